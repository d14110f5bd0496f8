// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: each work queue's IMS interrupt. Probe (irqlab_main.c)
 * sets up the IMS table (irqlab_ims_table.c) and the irq domain
 * (irqlab_ims.c), then allocates and requests one interrupt per queue from
 * that domain: queue q gets slot q.
 */
#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/kernel.h>

#include "irqlab.h"

/* Hot path: count, nothing else (no device access). */
static irqreturn_t irqlab_ims_handler(int irq, void *data)
{
	struct irqlab_queue *queue = data;

	atomic64_inc(&queue->count);
	return IRQ_HANDLED;
}

/* "mask"/"unmask" from ctl (see irqlab_ctl_mask in irqlab.h). */
int irqlab_mask_ims(struct irqlab_dev *idev, unsigned int q, bool mask)
{
	struct irqlab_queue *queue;

	if (q >= idev->nr_queues)
		return -EINVAL;
	queue = &idev->queues[q];
	if (!queue->ims_requested)
		return -ENODEV;
	irqlab_ctl_mask(queue->ims_irq, &queue->ims_disabled, mask);
	return 0;
}

void irqlab_free_ims(struct irqlab_dev *idev)
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

/* @sysmem: the ims_sysmem module parameter (irqlab_main.c). */
int irqlab_setup_ims(struct irqlab_dev *idev, bool sysmem)
{
	struct device *dev = &idev->pdev->dev;
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
