// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: the PCI driver for the irqlab reference device
 * (irqlab_hw.h). Probe maps BAR0, allocates every MSI-X vector
 * (irqlab_msix.c), creates the device's IMS chip (irqlab_ims.c), the lfunc/
 * sysfs directory and one logical function per work queue (irqlab_lfunc.c),
 * and publishes the state under /sys/kernel/debug/irqlab/<bdf>/
 * (irqlab_debugfs.c).
 *
 * Module parameters:
 *   route=ims|msix     interrupt 0 of a logical function: an IMS slot from
 *                      the allocator (default), or MSI-X vector queue % nvec
 *   ims_sysmem=0|1     keep the IMS table in system memory (IRQLAB_CTRL_IMS_SYSMEM)
 *   probe_lfuncs=1|0   one logical function per queue at probe (default 1);
 *                      with lfuncs created in queue order, lfunc q gets slot q
 *   unflushed_mask=0|1 WRONG ON PURPOSE (default 0): IMS mask without the
 *                      read-back that flushes it, for testing the lab's
 *                      late-posted-write fault
 *
 * Probe only fails when the device itself is unusable (enable, regions, BAR0,
 * ID magic). If MSI-X or IMS cannot be set up, the driver says so in the log
 * and carries on without it, so debugfs still shows what went wrong.
 */
#include <linux/io.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "irqlab.h"

static char *route = "ims";
module_param(route, charp, 0444);
MODULE_PARM_DESC(route, "Interrupt 0 of a logical function: ims (an IMS slot of its own, default) or msix (vector queue % nvec)");

static bool ims_sysmem;
module_param(ims_sysmem, bool, 0444);
MODULE_PARM_DESC(ims_sysmem, "Keep the IMS table in system memory (default 0: in the BAR)");

static bool probe_lfuncs = true;
module_param(probe_lfuncs, bool, 0444);
MODULE_PARM_DESC(probe_lfuncs, "Create one logical function per queue at probe (default 1; 0: none, create them in sysfs)");

static bool unflushed_mask;
module_param(unflushed_mask, bool, 0444);
MODULE_PARM_DESC(unflushed_mask, "WRONG ON PURPOSE, for testing the lab's late-posted-write fault: mask IMS slots without the read-back that flushes the write (default 0)");

static enum irqlab_route default_route = IRQLAB_ROUTE_IMS;

enum irqlab_route irqlab_default_route(void)
{
	return default_route;
}

bool irqlab_unflushed_mask(void)
{
	return unflushed_mask;
}

const char *irqlab_route_name(enum irqlab_route r)
{
	switch (r) {
	case IRQLAB_ROUTE_IMS:
		return "ims";
	case IRQLAB_ROUTE_MSIX:
		return "msix";
	default:
		return "none";
	}
}

/* Where queue q's completions raise an interrupt: IMS slot or MSI-X vector @index, or none. */
void irqlab_queue_route(struct irqlab_dev *idev, unsigned int q, enum irqlab_route r,
			unsigned int index)
{
	struct irqlab_queue *queue = &idev->queues[q];
	u32 val = 0;

	if (r == IRQLAB_ROUTE_IMS)
		val = IRQLAB_Q_IRQ_IMS | IRQLAB_Q_IRQ_ENABLE | index;
	else if (r == IRQLAB_ROUTE_MSIX)
		val = IRQLAB_Q_IRQ_ENABLE | index;
	else
		index = 0;
	WRITE_ONCE(queue->route_index, index);
	WRITE_ONCE(queue->route, r);
	writel(val, idev->regs + IRQLAB_QUEUE_REG(q, IRQLAB_Q_IRQ));
}

void irqlab_set_busmaster(struct irqlab_dev *idev, bool on)
{
	if (on)
		pci_set_master(idev->pdev);
	else
		pci_clear_master(idev->pdev);
	idev->busmaster = on;
}

int irqlab_submit(struct irqlab_dev *idev, unsigned int q, u32 n)
{
	if (q >= idev->nr_queues)
		return -EINVAL;
	writel(n, idev->regs + IRQLAB_QUEUE_REG(q, IRQLAB_Q_DOORBELL));
	return 0;
}

void irqlab_reset_counts(struct irqlab_dev *idev)
{
	unsigned int i, j;

	for (i = 0; i < idev->nr_queues; i++)
		atomic64_set(&idev->queues[i].count, 0);
	for (i = 0; i < idev->nr_vectors; i++)
		atomic64_set(&idev->vectors[i].count, 0);
	for (i = 0; i < idev->nr_queues; i++) {
		struct irqlab_lfunc *lf = idev->lfuncs[i];

		for (j = 0; lf && j < lf->nr_irqs; j++)
			atomic64_set(&lf->irqs[j]->count, 0);
	}
}

/* ---- probe / remove ---- */

/*
 * Read the device's geometry and check it against the BARs, so that no
 * register or slot access can leave a mapping whatever the device reports.
 */
static int irqlab_read_config(struct irqlab_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	struct device *dev = &pdev->dev;
	resource_size_t bar0_len = pci_resource_len(pdev, 0);
	resource_size_t limit, ims_len;
	unsigned int max_queues, max_slots;
	u32 id, nq, slots;

	id = readl(idev->regs + IRQLAB_REG_ID);
	if (id != IRQLAB_ID_MAGIC) {
		dev_err(dev, "ID register reads 0x%08x, expected 0x%08x\n", id, IRQLAB_ID_MAGIC);
		return -ENODEV;
	}
	idev->version = readl(idev->regs + IRQLAB_REG_VERSION);
	nq = readl(idev->regs + IRQLAB_REG_NUM_QUEUES);
	idev->ims_cap = readl(idev->regs + IRQLAB_REG_IMS_CAP);
	idev->ims_offset = readl(idev->regs + IRQLAB_REG_IMS_OFFSET);
	slots = IRQLAB_IMS_CAP_SLOTS(idev->ims_cap);
	idev->ims_bar_nr = IRQLAB_IMS_CAP_BAR(idev->ims_cap);

	if (slots) {
		unsigned int bar = idev->ims_bar_nr;

		if (bar >= PCI_STD_NUM_BARS || !(pci_resource_flags(pdev, bar) & IORESOURCE_MEM) ||
		    idev->ims_offset % IRQLAB_IMS_SLOT_SIZE) {
			dev_err(dev, "IMS table in BAR%u at 0x%x is unusable: no IMS\n", bar,
				idev->ims_offset);
			slots = 0;
		} else {
			ims_len = pci_resource_len(pdev, bar);
			max_slots = ims_len > idev->ims_offset ?
				    (ims_len - idev->ims_offset) / IRQLAB_IMS_SLOT_SIZE : 0;
			if (slots > max_slots) {
				dev_warn(dev, "%u IMS slots do not fit BAR%u: using %u\n",
					 slots, bar, max_slots);
				slots = max_slots;
			}
		}
	}
	if (slots && idev->ims_bar_nr != 0) {
		idev->ims_bar = pci_iomap(pdev, idev->ims_bar_nr, 0);
		if (!idev->ims_bar) {
			dev_err(dev, "cannot map BAR%u: no IMS\n", idev->ims_bar_nr);
			slots = 0;
		}
	} else if (slots) {
		idev->ims_bar = idev->regs;
	}
	if (slots)
		idev->ims_table = idev->ims_bar + idev->ims_offset;
	idev->ims_slots = slots;

	/* Queue register blocks must stay inside BAR0 and below an IMS table there. */
	limit = bar0_len;
	if (slots && idev->ims_bar_nr == 0)
		limit = min_t(resource_size_t, limit, idev->ims_offset);
	max_queues = limit > IRQLAB_QUEUE_BASE ?
		     (limit - IRQLAB_QUEUE_BASE) / IRQLAB_QUEUE_STRIDE : 0;
	if (nq > max_queues) {
		dev_warn(dev, "%u queues do not fit BAR0: using %u\n", nq, max_queues);
		nq = max_queues;
	}
	idev->nr_queues = nq;
	return 0;
}

/* Reverse of irqlab_probe(); copes with a probe that stopped half-way. */
static void irqlab_teardown(struct irqlab_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int q;

	/* No more requests from debugfs or sysfs (both wait for writers inside). */
	irqlab_debugfs_remove(idev);
	irqlab_lfunc_sysfs_stop(idev);

	/* Stop the device raising interrupts before they go away. */
	if (idev->regs && idev->queues) {
		for (q = 0; q < idev->nr_queues; q++)
			irqlab_queue_route(idev, q, IRQLAB_ROUTE_NONE, 0);
	}
	mutex_lock(&idev->lock);
	irqlab_lfunc_destroy_all(idev);
	mutex_unlock(&idev->lock);
	irqlab_lfunc_sysfs_exit(idev);
	irqlab_ims_teardown(idev);
	irqlab_free_msix(idev);

	if (idev->busmaster)
		pci_clear_master(pdev);
	if (idev->ims_bar && idev->ims_bar != idev->regs)
		pci_iounmap(pdev, idev->ims_bar);
	if (idev->regs)
		pci_iounmap(pdev, idev->regs);
	kfree(idev->lfuncs);
	kfree(idev->queues);
	ida_destroy(&idev->lfunc_ida);
}

static int irqlab_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct irqlab_dev *idev;
	unsigned int q;
	int ret;

	idev = kzalloc(sizeof(*idev), GFP_KERNEL);
	if (!idev)
		return -ENOMEM;
	idev->pdev = pdev;
	mutex_init(&idev->lock);
	ida_init(&idev->lfunc_ida);

	ret = pci_enable_device(pdev);
	if (ret)
		goto err_free;
	ret = pci_request_regions(pdev, IRQLAB_DRV_NAME);
	if (ret)
		goto err_disable;

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    pci_resource_len(pdev, 0) < IRQLAB_QUEUE_BASE) {
		dev_err(dev, "BAR0 is not a register BAR\n");
		ret = -ENODEV;
		goto err_release;
	}
	idev->regs = pci_iomap(pdev, 0, 0);
	if (!idev->regs) {
		ret = -ENOMEM;
		goto err_release;
	}
	ret = irqlab_read_config(idev);
	if (ret)
		goto err_teardown;

	pci_set_master(pdev);
	idev->busmaster = true;

	idev->queues = kcalloc(max(idev->nr_queues, 1u), sizeof(*idev->queues), GFP_KERNEL);
	idev->lfuncs = kcalloc(max(idev->nr_queues, 1u), sizeof(*idev->lfuncs), GFP_KERNEL);
	if (!idev->queues || !idev->lfuncs) {
		ret = -ENOMEM;
		goto err_teardown;
	}
	for (q = 0; q < idev->nr_queues; q++) {
		atomic64_set(&idev->queues[q].count, 0);
		/* Routing is unknown after a previous driver: start from off. */
		irqlab_queue_route(idev, q, IRQLAB_ROUTE_NONE, 0);
	}

	ret = irqlab_setup_msix(idev);
	if (ret) {
		dev_err(dev, "MSI-X set-up failed (%d): continuing without MSI-X\n", ret);
		irqlab_free_msix(idev);
	}
	if (unflushed_mask)
		dev_warn(dev, "unflushed_mask=1: IMS slots are masked without a flush, deliberately wrong\n");
	ret = irqlab_ims_setup(idev, ims_sysmem);
	if (ret)
		dev_err(dev, "IMS set-up failed (%d): continuing without IMS\n", ret);

	ret = irqlab_lfunc_sysfs_init(idev);
	if (ret) {
		dev_err(dev, "cannot create lfunc/ in sysfs (%d)\n", ret);
		goto err_teardown;
	}
	if (probe_lfuncs) {
		mutex_lock(&idev->lock);
		irqlab_lfuncs_at_probe(idev);
		mutex_unlock(&idev->lock);
	}

	pci_set_drvdata(pdev, idev);
	irqlab_debugfs_add(idev);
	dev_info(dev, "irqlab v%u.%u: %u queues, %u IMS slots (%s, parent %s), %u MSI-X vectors\n",
		 idev->version >> 16, idev->version & 0xffff, idev->nr_queues, idev->ims_slots,
		 idev->ims && ims_chip_storage(idev->ims) == IMS_STORAGE_SYSTEM ? "sysmem" : "devmem",
		 idev->ims ? ims_chip_parent_name(idev->ims) : "none", idev->nr_vectors);
	return 0;

err_teardown:
	irqlab_teardown(idev);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_free:
	kfree(idev);
	return ret;
}

static void irqlab_remove(struct pci_dev *pdev)
{
	struct irqlab_dev *idev = pci_get_drvdata(pdev);

	if (!idev)
		return;
	irqlab_teardown(idev);
	pci_set_drvdata(pdev, NULL);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	kfree(idev);
}

static const struct pci_device_id irqlab_ids[] = {
	{ PCI_DEVICE(IRQLAB_VENDOR_ID, IRQLAB_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, irqlab_ids);

static struct pci_driver irqlab_driver = {
	.name		= IRQLAB_DRV_NAME,
	.id_table	= irqlab_ids,
	.probe		= irqlab_probe,
	.remove		= irqlab_remove,
};

static int __init irqlab_init(void)
{
	int ret;

	if (!strcmp(route, "ims")) {
		default_route = IRQLAB_ROUTE_IMS;
	} else if (!strcmp(route, "msix")) {
		default_route = IRQLAB_ROUTE_MSIX;
	} else {
		pr_err("irqlab: route=%s: expected ims or msix\n", route);
		return -EINVAL;
	}

	irqlab_debugfs_init();
	ret = pci_register_driver(&irqlab_driver);
	if (ret)
		irqlab_debugfs_exit();
	return ret;
}

static void __exit irqlab_exit(void)
{
	pci_unregister_driver(&irqlab_driver);
	irqlab_debugfs_exit();
}

module_init(irqlab_init);
module_exit(irqlab_exit);

MODULE_DESCRIPTION("irqlab reference device: MSI-X and IMS work-queue interrupts");
MODULE_LICENSE("GPL");
