// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: the MSI-X vectors. Probe (irqlab_main.c) allocates
 * every vector of the device's table and requests each one; a vector's
 * handler counts for the vector and for the queues routed to it.
 */
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/irq.h>
#include <linux/kernel.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "irqlab.h"

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

/* "mask"/"unmask" from ctl (see irqlab_ctl_mask in irqlab.h). */
int irqlab_mask_msix(struct irqlab_dev *idev, unsigned int v, bool mask)
{
	struct irqlab_vector *vec;

	if (v >= idev->nr_vectors)
		return -EINVAL;
	vec = &idev->vectors[v];
	if (!vec->requested)
		return -ENODEV;
	irqlab_ctl_mask(vec->irq, &vec->disabled, mask);
	return 0;
}

void irqlab_free_msix(struct irqlab_dev *idev)
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

int irqlab_setup_msix(struct irqlab_dev *idev)
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
		ret = irqlab_request_irq(vec->irq, irqlab_msix_handler, vec->name, vec);
		if (ret)
			return ret;
		vec->requested = true;
	}
	return 0;
}
