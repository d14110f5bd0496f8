// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: the PCI driver for the irqlab reference device
 * (irqlab_hw.h). Probe maps BAR0, allocates every MSI-X vector and one IMS
 * interrupt per work queue (irqlab_ims.c), routes the queues and publishes
 * the state under /sys/kernel/debug/irqlab/<bdf>/ (irqlab_debugfs.c).
 *
 * Module parameters:
 *   route=ims|msix   initial routing: queue q -> IMS slot q (default), or
 *                    queue q -> MSI-X vector q % nvec
 *   ims_sysmem=0|1   keep the IMS table in system memory (IRQLAB_CTRL_IMS_SYSMEM)
 *
 * Probe only fails when the device itself is unusable (enable, regions, BAR0,
 * ID magic). If MSI-X or IMS cannot be set up, the driver says so in the log
 * and carries on without it, so debugfs still shows what went wrong.
 */
#include <linux/io.h>
#include <linux/irq.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "irqlab.h"

static char *route = "ims";
module_param(route, charp, 0444);
MODULE_PARM_DESC(route, "Initial queue routing: ims (queue q -> IMS slot q) or msix (queue q -> vector q % nvec)");

static bool ims_sysmem;
module_param(ims_sysmem, bool, 0444);
MODULE_PARM_DESC(ims_sysmem, "Keep the IMS table in system memory (default 0: in the BAR)");

static enum irqlab_route default_route = IRQLAB_ROUTE_IMS;

enum irqlab_route irqlab_default_route(void)
{
	return default_route;
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

/* Hot path: count, nothing else (no device access). */
static irqreturn_t irqlab_ims_handler(int irq, void *data)
{
	struct irqlab_queue *queue = data;

	atomic64_inc(&queue->count);
	return IRQ_HANDLED;
}

/*
 * A vector counts for itself and for every queue routed to it (several
 * queues share a vector when there are more queues than vectors).
 */
static irqreturn_t irqlab_msix_handler(int irq, void *data)
{
	struct irqlab_vector *vec = data;
	struct irqlab_dev *idev = vec->idev;
	unsigned int q;

	atomic64_inc(&vec->count);
	for (q = 0; q < idev->nr_queues; q++) {
		struct irqlab_queue *queue = &idev->queues[q];

		if (READ_ONCE(queue->route) == IRQLAB_ROUTE_MSIX &&
		    READ_ONCE(queue->route_index) == vec->index)
			atomic64_inc(&queue->count);
	}
	return IRQ_HANDLED;
}

int irqlab_set_route(struct irqlab_dev *idev, unsigned int q, enum irqlab_route r)
{
	struct irqlab_queue *queue;
	unsigned int index = 0;
	u32 val = 0;

	if (q >= idev->nr_queues)
		return -EINVAL;
	queue = &idev->queues[q];

	switch (r) {
	case IRQLAB_ROUTE_IMS:
		if (!queue->ims_requested)
			return -ENODEV;
		index = q;	/* slot q belongs to queue q */
		val = IRQLAB_Q_IRQ_IMS | IRQLAB_Q_IRQ_ENABLE | index;
		break;
	case IRQLAB_ROUTE_MSIX:
		if (!idev->nr_vectors)
			return -ENODEV;
		index = q % idev->nr_vectors;
		val = IRQLAB_Q_IRQ_ENABLE | index;
		break;
	case IRQLAB_ROUTE_NONE:
		break;
	}

	WRITE_ONCE(queue->route_index, index);
	WRITE_ONCE(queue->route, r);
	writel(val, idev->regs + IRQLAB_QUEUE_REG(q, IRQLAB_Q_IRQ));
	return 0;
}

/*
 * disable_irq()/enable_irq() nest; the ctl interface does not: a second
 * "mask" of a masked interrupt is a no-op, so depth never exceeds one and
 * teardown can undo it.
 */
int irqlab_mask_ims(struct irqlab_dev *idev, unsigned int q, bool mask)
{
	struct irqlab_queue *queue;

	if (q >= idev->nr_queues)
		return -EINVAL;
	queue = &idev->queues[q];
	if (!queue->ims_requested)
		return -ENODEV;
	if (queue->ims_disabled == mask)
		return 0;
	if (mask)
		disable_irq(queue->ims_irq);
	else
		enable_irq(queue->ims_irq);
	queue->ims_disabled = mask;
	return 0;
}

int irqlab_mask_msix(struct irqlab_dev *idev, unsigned int v, bool mask)
{
	struct irqlab_vector *vec;

	if (v >= idev->nr_vectors)
		return -EINVAL;
	vec = &idev->vectors[v];
	if (!vec->requested)
		return -ENODEV;
	if (vec->disabled == mask)
		return 0;
	if (mask)
		disable_irq(vec->irq);
	else
		enable_irq(vec->irq);
	vec->disabled = mask;
	return 0;
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
	unsigned int i;

	for (i = 0; i < idev->nr_queues; i++)
		atomic64_set(&idev->queues[i].count, 0);
	for (i = 0; i < idev->nr_vectors; i++)
		atomic64_set(&idev->vectors[i].count, 0);
}

/* ---- MSI-X ---- */

static void irqlab_free_msix(struct irqlab_dev *idev)
{
	unsigned int i;

	for (i = 0; i < idev->nr_vectors; i++) {
		struct irqlab_vector *vec = &idev->vectors[i];

		if (!vec->requested)
			continue;
		if (vec->disabled)
			enable_irq(vec->irq);
		free_irq(vec->irq, vec);
		vec->requested = false;
		vec->disabled = false;
	}
	idev->nr_vectors = 0;
	if (idev->msix_pba)
		pci_iounmap(idev->pdev, idev->msix_pba);
	idev->msix_pba = NULL;
	kfree(idev->vectors);
	idev->vectors = NULL;
	if (idev->msix_enabled)
		pci_free_irq_vectors(idev->pdev);
	idev->msix_enabled = false;
}

/*
 * The PCI core maps the MSI-X table but not the PBA. Map it so debugfs can
 * show the pending bits as the device reports them; optional, so a failure
 * only costs that column.
 */
static void irqlab_map_pba(struct irqlab_dev *idev, int nvec)
{
	struct pci_dev *pdev = idev->pdev;
	u32 pba;

	pci_read_config_dword(pdev, pdev->msix_cap + PCI_MSIX_PBA, &pba);
	idev->msix_pba = pci_iomap_range(pdev, pba & PCI_MSIX_PBA_BIR,
					 pba & PCI_MSIX_PBA_OFFSET,
					 DIV_ROUND_UP(nvec, 64) * 8);
	if (!idev->msix_pba)
		pci_warn(pdev, "cannot map the MSI-X PBA; pending bits not shown\n");
}

static int irqlab_setup_msix(struct irqlab_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	int nvec, ret;
	unsigned int i;

	nvec = pci_msix_vec_count(pdev);
	if (nvec <= 0)
		return nvec ? nvec : -ENODEV;

	/* All of them: the tests address every vector of the table. */
	ret = pci_alloc_irq_vectors(pdev, nvec, nvec, PCI_IRQ_MSIX);
	if (ret < 0)
		return ret;
	idev->msix_enabled = true;

	idev->vectors = kcalloc(nvec, sizeof(*idev->vectors), GFP_KERNEL);
	if (!idev->vectors)
		return -ENOMEM;
	idev->nr_vectors = nvec;
	irqlab_map_pba(idev, nvec);

	for (i = 0; i < idev->nr_vectors; i++) {
		struct irqlab_vector *vec = &idev->vectors[i];

		vec->idev = idev;
		vec->index = i;
		atomic64_set(&vec->count, 0);
		ret = pci_irq_vector(pdev, i);
		if (ret < 0)
			return ret;
		vec->irq = ret;
		snprintf(vec->name, sizeof(vec->name), "irqlab-msix-%u", i);
		ret = request_irq(vec->irq, irqlab_msix_handler, 0, vec->name, vec);
		if (ret)
			return ret;
		vec->requested = true;
		/*
		 * Mask in hardware at disable_irq() time instead of lazily on
		 * the next interrupt: the tests observe the masking itself.
		 * free_irq() clears the flag, so it is set after request_irq().
		 */
		irq_set_status_flags(vec->irq, IRQ_DISABLE_UNLAZY);
	}
	return 0;
}

/* ---- IMS ---- */

static void irqlab_free_ims(struct irqlab_dev *idev)
{
	unsigned int q;

	for (q = 0; q < idev->nr_queues; q++) {
		struct irqlab_queue *queue = &idev->queues[q];

		if (queue->ims_requested) {
			if (queue->ims_disabled)
				enable_irq(queue->ims_irq);
			/* free_irq() deactivates: .deactivate clears and masks the slot */
			free_irq(queue->ims_irq, queue);
		}
		if (queue->ims_irq)
			irqlab_ims_free_irq(queue->ims_irq);
		queue->ims_requested = false;
		queue->ims_disabled = false;
		queue->ims_irq = 0;
	}
	irqlab_ims_remove_domain(idev);
}

static int irqlab_setup_ims(struct irqlab_dev *idev)
{
	struct device *dev = &idev->pdev->dev;
	bool sysmem = ims_sysmem;
	unsigned int q, nr;
	int ret;

	if (!idev->ims_slots)
		return -ENODEV;

	if (sysmem && !(idev->ims_cap & IRQLAB_IMS_CAP_SYSMEM)) {
		dev_warn(dev, "ims_sysmem=1 but the device lacks IRQLAB_IMS_CAP_SYSMEM: IMS table stays in the BAR\n");
		sysmem = false;
	}
	ret = irqlab_ims_init_table(idev, sysmem);
	if (ret && !idev->ims_msg)
		return ret;
	if (ret)
		dev_warn(dev, "system-memory IMS table unavailable (%d): IMS table stays in the BAR\n",
			 ret);

	ret = irqlab_ims_create_domain(idev);
	if (ret)
		return ret;

	nr = min(idev->nr_queues, idev->ims_slots);
	for (q = 0; q < nr; q++) {
		struct irqlab_queue *queue = &idev->queues[q];

		ret = irqlab_ims_alloc_irq(idev, q);
		if (ret < 0)
			return ret;
		queue->ims_irq = ret;
		snprintf(queue->ims_name, sizeof(queue->ims_name), "irqlab-q%u", q);
		ret = request_irq(queue->ims_irq, irqlab_ims_handler, 0, queue->ims_name, queue);
		if (ret)
			return ret;
		queue->ims_requested = true;
		irq_set_status_flags(queue->ims_irq, IRQ_DISABLE_UNLAZY);
	}
	if (nr < idev->nr_queues)
		dev_warn(dev, "%u queues but %u IMS slots: queues %u.. have no IMS interrupt\n",
			 idev->nr_queues, idev->ims_slots, nr);
	return 0;
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

static void irqlab_teardown(struct irqlab_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int q;

	irqlab_debugfs_remove(idev);

	/* Stop the device raising interrupts before they go away. */
	if (idev->regs && idev->queues) {
		for (q = 0; q < idev->nr_queues; q++)
			irqlab_set_route(idev, q, IRQLAB_ROUTE_NONE);
	}
	if (idev->queues)
		irqlab_free_ims(idev);
	if (idev->ims_table)
		irqlab_ims_clear_all_slots(idev);
	irqlab_ims_release_table(idev);
	irqlab_free_msix(idev);

	if (idev->busmaster)
		pci_clear_master(pdev);
	if (idev->ims_bar && idev->ims_bar != idev->regs)
		pci_iounmap(pdev, idev->ims_bar);
	if (idev->regs)
		pci_iounmap(pdev, idev->regs);
	kfree(idev->queues);
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
	if (!idev->queues) {
		ret = -ENOMEM;
		goto err_teardown;
	}
	for (q = 0; q < idev->nr_queues; q++) {
		idev->queues[q].idev = idev;
		idev->queues[q].index = q;
		atomic64_set(&idev->queues[q].count, 0);
		/* Routing is unknown after a previous driver: start from off. */
		irqlab_set_route(idev, q, IRQLAB_ROUTE_NONE);
	}

	ret = irqlab_setup_msix(idev);
	if (ret) {
		dev_err(dev, "MSI-X set-up failed (%d): continuing without MSI-X\n", ret);
		irqlab_free_msix(idev);
	}
	ret = irqlab_setup_ims(idev);
	if (ret) {
		dev_err(dev, "IMS set-up failed (%d): continuing without IMS\n", ret);
		irqlab_free_ims(idev);
	}

	for (q = 0; q < idev->nr_queues; q++) {
		enum irqlab_route other = default_route == IRQLAB_ROUTE_IMS ?
					  IRQLAB_ROUTE_MSIX : IRQLAB_ROUTE_IMS;

		if (!irqlab_set_route(idev, q, default_route))
			continue;
		if (!irqlab_set_route(idev, q, other))
			dev_warn(dev, "queue %u routed to %s: no %s interrupt\n", q,
				 irqlab_route_name(other), irqlab_route_name(default_route));
		else
			dev_warn(dev, "queue %u has no interrupt\n", q);
	}

	pci_set_drvdata(pdev, idev);
	irqlab_debugfs_add(idev);
	dev_info(dev, "irqlab v%u.%u: %u queues, %u IMS slots (%s, parent %s), %u MSI-X vectors\n",
		 idev->version >> 16, idev->version & 0xffff, idev->nr_queues, idev->ims_slots,
		 idev->ims_sysmem ? "sysmem" : "devmem",
		 idev->ims_parent ? idev->ims_parent->name : "none", idev->nr_vectors);
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
