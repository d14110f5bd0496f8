// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab_generic: binds any PCI function by vendor:device, takes every
 * interrupt it offers and counts them (see generic.h for the debugfs files).
 *
 * Module parameters:
 *   ids=VVVV:DDDD[,VVVV:DDDD...]  functions to bind (hex); more can be added
 *                                 later through /sys/bus/pci/drivers/irqlab_generic/new_id
 *   mode=auto|msix|msi|intx       auto (default): MSI-X with every vector, else
 *                                 MSI with as many as the kernel grants, else INTx
 *
 * Probe sets things up in order and undoes them in reverse on failure;
 * remove is the same reverse order. Nothing here knows the device: it never
 * touches a BAR unless a person asks through the poke file.
 */
#include <linux/debugfs.h>
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "generic.h"

static char *ids = "";
module_param(ids, charp, 0444);
MODULE_PARM_DESC(ids, "Functions to bind: VVVV:DDDD[,VVVV:DDDD...] in hex (or write \"VVVV DDDD\" to the driver's new_id)");

static char *mode = "auto";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "Interrupt mode: auto (MSI-X, else MSI, else INTx; default), msix, msi or intx");

static enum generic_mode wanted = GENERIC_NONE;	/* GENERIC_NONE: auto */

const char *generic_mode_name(enum generic_mode m)
{
	switch (m) {
	case GENERIC_MSIX:
		return "msix";
	case GENERIC_MSI:
		return "msi";
	case GENERIC_INTX:
		return "intx";
	default:
		return "none";
	}
}

static irqreturn_t generic_irq(int irq, void *data)
{
	struct generic_vector *vec = data;
	struct generic_dev *gdev = vec->gdev;

	/*
	 * INTx is a shared level: count only what this function raised (its
	 * Interrupt Status bit) and mask it at the function (Interrupt Disable),
	 * because a generic driver cannot clear the device's own cause; the line
	 * would fire again at once. "unmask" in ctl re-enables it, once the
	 * cause is cleared (as uio_pci_generic leaves it to user space).
	 */
	if (gdev->mode == GENERIC_INTX && !pci_check_and_mask_intx(gdev->pdev))
		return IRQ_NONE;
	atomic64_inc(&vec->count);
	return IRQ_HANDLED;
}

bool generic_unmask_intx(struct generic_dev *gdev)
{
	/* False while the function still asserts INTx: it stays masked. */
	return gdev->mode == GENERIC_INTX && pci_check_and_unmask_intx(gdev->pdev);
}

void generic_reset_counts(struct generic_dev *gdev)
{
	unsigned int i;

	for (i = 0; i < gdev->nr_vectors; i++)
		atomic64_set(&gdev->vectors[i].count, 0);
}

/* Vectors of one mode: how many the kernel granted, or an error. */
static int generic_alloc_vectors(struct pci_dev *pdev, enum generic_mode m)
{
	int n;

	switch (m) {
	case GENERIC_MSIX:
		n = pci_msix_vec_count(pdev);
		if (n <= 0)
			return -ENODEV;
		/* Every vector the table has; fewer only if the kernel cannot give them all. */
		return pci_alloc_irq_vectors(pdev, 1, n, PCI_IRQ_MSIX);
	case GENERIC_MSI:
		n = pci_msi_vec_count(pdev);
		if (n <= 0)
			return -ENODEV;
		/* x86 grants several MSI vectors only with interrupt remapping. */
		return pci_alloc_irq_vectors(pdev, 1, n, PCI_IRQ_MSI);
	case GENERIC_INTX:
		if (!pdev->pin)
			return -ENODEV;
		return pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_INTX);
	default:
		return -EINVAL;
	}
}

static void generic_free_irqs(struct generic_dev *gdev)
{
	unsigned int i;

	for (i = 0; i < gdev->nr_vectors; i++) {
		struct generic_vector *vec = &gdev->vectors[i];

		if (vec->requested)
			free_irq(vec->irq, vec);
		vec->requested = false;
	}
}

static int generic_request_irqs(struct generic_dev *gdev)
{
	struct pci_dev *pdev = gdev->pdev;
	static const enum generic_mode order[] = { GENERIC_MSIX, GENERIC_MSI, GENERIC_INTX };
	unsigned int i;
	int n = -ENODEV, ret;

	for (i = 0; i < ARRAY_SIZE(order); i++) {
		if (wanted != GENERIC_NONE && wanted != order[i])
			continue;
		n = generic_alloc_vectors(pdev, order[i]);
		if (n > 0) {
			gdev->mode = order[i];
			break;
		}
	}
	if (n <= 0)
		return n ? n : -ENODEV;

	gdev->vectors = kcalloc(n, sizeof(*gdev->vectors), GFP_KERNEL);
	if (!gdev->vectors) {
		ret = -ENOMEM;
		goto err_vectors;
	}
	gdev->nr_vectors = n;
	for (i = 0; i < gdev->nr_vectors; i++) {
		struct generic_vector *vec = &gdev->vectors[i];

		vec->gdev = gdev;
		vec->index = i;
		atomic64_set(&vec->count, 0);
		vec->irq = pci_irq_vector(pdev, i);
		if (vec->irq < 0) {
			ret = vec->irq;
			goto err_irqs;
		}
		snprintf(vec->name, sizeof(vec->name), "%s-%s-%u", GENERIC_DRV_NAME, pci_name(pdev), i);
		ret = request_irq(vec->irq, generic_irq, gdev->mode == GENERIC_INTX ? IRQF_SHARED : 0,
				  vec->name, vec);
		if (ret)
			goto err_irqs;
		vec->requested = true;
	}
	return 0;

err_irqs:
	generic_free_irqs(gdev);
	kfree(gdev->vectors);
	gdev->vectors = NULL;
	gdev->nr_vectors = 0;
err_vectors:
	pci_free_irq_vectors(pdev);
	gdev->mode = GENERIC_NONE;
	return ret;
}

/* Every BAR, mapped for the poke file; a BAR that cannot be mapped is only left out. */
static void generic_map_bars(struct generic_dev *gdev)
{
	struct pci_dev *pdev = gdev->pdev;
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!pci_resource_len(pdev, bar) ||
		    !(pci_resource_flags(pdev, bar) & (IORESOURCE_MEM | IORESOURCE_IO)))
			continue;
		gdev->bars[bar] = pci_iomap(pdev, bar, 0);
		if (!gdev->bars[bar])
			pci_warn(pdev, "cannot map BAR%d: not accessible through poke\n", bar);
	}
}

static void generic_unmap_bars(struct generic_dev *gdev)
{
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (gdev->bars[bar])
			pci_iounmap(gdev->pdev, gdev->bars[bar]);
		gdev->bars[bar] = NULL;
	}
}

static int generic_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct generic_dev *gdev;
	int ret;

	gdev = kzalloc(sizeof(*gdev), GFP_KERNEL);
	if (!gdev)
		return -ENOMEM;
	gdev->pdev = pdev;
	mutex_init(&gdev->poke_lock);

	ret = pci_enable_device(pdev);
	if (ret)
		goto err_free;
	ret = pci_request_regions(pdev, GENERIC_DRV_NAME);
	if (ret)
		goto err_disable;
	generic_map_bars(gdev);
	/* MSI and MSI-X messages are memory writes by the function: it must be a bus master. */
	pci_set_master(pdev);

	ret = generic_request_irqs(gdev);
	if (ret) {
		pci_err(pdev, "no %s interrupt could be set up (%d)\n",
			wanted == GENERIC_NONE ? "MSI-X, MSI or INTx" : generic_mode_name(wanted), ret);
		goto err_master;
	}
	pci_set_drvdata(pdev, gdev);
	generic_debugfs_add(gdev);
	pci_info(pdev, "irqlab_generic: %s, %u vector%s\n", generic_mode_name(gdev->mode),
		 gdev->nr_vectors, gdev->nr_vectors == 1 ? "" : "s");
	return 0;

err_master:
	pci_clear_master(pdev);
	generic_unmap_bars(gdev);
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free:
	kfree(gdev);
	return ret;
}

static void generic_remove(struct pci_dev *pdev)
{
	struct generic_dev *gdev = pci_get_drvdata(pdev);

	/* No more pokes or ctl writes (debugfs waits for those in progress). */
	generic_debugfs_remove(gdev);
	/* Handlers go before their vectors, vectors before bus mastering. */
	generic_free_irqs(gdev);
	kfree(gdev->vectors);
	pci_free_irq_vectors(pdev);
	pci_clear_master(pdev);
	generic_unmap_bars(gdev);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	kfree(gdev);
}

/* Nothing by default: functions come from ids= or new_id. */
static const struct pci_device_id generic_no_ids[] = {
	{ }
};

static struct pci_driver generic_driver = {
	.name		= GENERIC_DRV_NAME,
	.id_table	= generic_no_ids,
	.probe		= generic_probe,
	.remove		= generic_remove,
};

/* ids=VVVV:DDDD,...: each one a dynamic id, which binds matching functions at once. */
static int generic_add_ids(char *list)
{
	char *item;
	int ret;

	while ((item = strsep(&list, ",")) != NULL) {
		char *colon = strchr(item, ':');
		u16 vendor, device;

		if (!*item)
			continue;
		if (!colon)
			goto bad;
		*colon = '\0';
		if (kstrtou16(item, 16, &vendor) || kstrtou16(colon + 1, 16, &device))
			goto bad;
		ret = pci_add_dynid(&generic_driver, vendor, device, PCI_ANY_ID, PCI_ANY_ID, 0, 0, 0);
		if (ret) {
			pr_err("%s: cannot add id %04x:%04x (%d)\n", GENERIC_DRV_NAME, vendor, device, ret);
			return ret;
		}
	}
	return 0;
bad:
	pr_err("%s: ids: expected VVVV:DDDD[,VVVV:DDDD...] in hex, got \"%s\"\n", GENERIC_DRV_NAME, ids);
	return -EINVAL;
}

static int __init generic_init(void)
{
	char *list;
	int ret;

	if (!strcmp(mode, "auto")) {
		wanted = GENERIC_NONE;
	} else if (!strcmp(mode, "msix")) {
		wanted = GENERIC_MSIX;
	} else if (!strcmp(mode, "msi")) {
		wanted = GENERIC_MSI;
	} else if (!strcmp(mode, "intx")) {
		wanted = GENERIC_INTX;
	} else {
		pr_err("%s: mode=%s: expected auto, msix, msi or intx\n", GENERIC_DRV_NAME, mode);
		return -EINVAL;
	}
	/* strsep writes into the string: parse a copy, keep the parameter as given. */
	list = kstrdup(ids, GFP_KERNEL);
	if (!list)
		return -ENOMEM;

	generic_debugfs_init();
	ret = pci_register_driver(&generic_driver);
	if (ret)
		goto err_debugfs;
	ret = generic_add_ids(list);
	if (ret)
		goto err_driver;
	kfree(list);
	return 0;

err_driver:
	pci_unregister_driver(&generic_driver);
err_debugfs:
	generic_debugfs_exit();
	kfree(list);
	return ret;
}

static void __exit generic_exit(void)
{
	pci_unregister_driver(&generic_driver);
	generic_debugfs_exit();
}

module_init(generic_init);
module_exit(generic_exit);

MODULE_DESCRIPTION("irqlab generic guest driver: binds any PCI function, takes and counts every interrupt, pokes its BARs");
MODULE_LICENSE("GPL");
