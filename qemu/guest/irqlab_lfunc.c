// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: logical functions. A logical function is one work
 * queue plus its interrupts (see irqlab.h). Creating one takes IMS slots from
 * the IMS chip's allocator (any free slot, not the queue's number), requests
 * the interrupts and routes the queue to interrupt 0; destroying it undoes
 * that in reverse. The driver finds an lfunc's interrupts by index with
 * irqlab_lfunc_virq(). Every function here runs under idev->lock.
 */
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/slab.h>

#include "irqlab.h"

/* Hot path: count, nothing else (no device access). */
static irqreturn_t irqlab_lfunc_ims_handler(int irq, void *data)
{
	struct irqlab_lfunc_irq *li = data;

	atomic64_inc(&li->count);
	if (li->queue_count)
		atomic64_inc(li->queue_count);
	return IRQ_HANDLED;
}

static void lfunc_irq_release(struct irqlab_lfunc_irq *li)
{
	struct irqlab_dev *idev = li->lf->idev;

	/* First out of sysfs: no reader may look at an irq being freed. */
	irqlab_lfunc_sysfs_del_irq(li);
	if (li->requested) {
		if (li->disabled)
			enable_irq(li->virq);
		/* free_irq() deactivates: the slot is masked and cleared (flushed). */
		free_irq(li->virq, li);
	}
	if (li->mode == IRQLAB_ROUTE_IMS && li->virq)
		ims_chip_free_irq(idev->ims, li->virq);
	kfree(li);
}

/* IMS: a slot from the allocator (or @slot), and its handler. */
static int lfunc_irq_setup_ims(struct irqlab_lfunc_irq *li, int slot)
{
	struct irqlab_lfunc *lf = li->lf;
	struct ims_chip *ims = lf->idev->ims;
	int ret;

	if (!ims)
		return -ENODEV;
	ret = ims_chip_alloc_irq(ims, slot);
	if (ret < 0)
		return ret;
	li->virq = ret;
	li->hwirq = ims_chip_irq_slot(ims, li->virq);
	snprintf(li->name, sizeof(li->name), "irqlab-lf%u.%u", lf->id, li->index);
	ret = irqlab_request_irq(li->virq, irqlab_lfunc_ims_handler, li->name, li);
	if (ret)
		return ret;
	li->requested = true;
	return 0;
}

/* MSI-X: the vector queue % vectors, allocated and requested at probe, shared. */
static int lfunc_irq_setup_msix(struct irqlab_lfunc_irq *li)
{
	struct irqlab_dev *idev = li->lf->idev;

	if (!idev->nr_vectors)
		return -ENODEV;
	li->hwirq = li->lf->queue % idev->nr_vectors;
	li->virq = idev->vectors[li->hwirq].irq;
	strscpy(li->name, idev->vectors[li->hwirq].name, sizeof(li->name));
	return 0;
}

static struct irqlab_lfunc_irq *lfunc_irq_setup(struct irqlab_lfunc *lf, unsigned int index,
						enum irqlab_route mode, int slot)
{
	struct irqlab_lfunc_irq *li;
	int ret;

	li = kzalloc(sizeof(*li), GFP_KERNEL);
	if (!li)
		return ERR_PTR(-ENOMEM);
	li->lf = lf;
	li->index = index;
	li->mode = mode;
	atomic64_set(&li->count, 0);
	if (index == 0)
		li->queue_count = &lf->idev->queues[lf->queue].count;

	ret = mode == IRQLAB_ROUTE_MSIX ? lfunc_irq_setup_msix(li) : lfunc_irq_setup_ims(li, slot);
	if (!ret)
		ret = irqlab_lfunc_sysfs_add_irq(li);
	if (ret) {
		lfunc_irq_release(li);
		return ERR_PTR(ret);
	}
	return li;
}

/* Points the queue's IRQ register at interrupt 0, or turns it off. */
static void lfunc_route(struct irqlab_lfunc *lf, bool on)
{
	struct irqlab_lfunc_irq *li = on ? lf->irqs[0] : NULL;

	if (li)
		irqlab_queue_route(lf->idev, lf->queue, li->mode, li->hwirq);
	else
		irqlab_queue_route(lf->idev, lf->queue, IRQLAB_ROUTE_NONE, 0);
}

static void lfunc_release_irqs(struct irqlab_lfunc *lf)
{
	while (lf->nr_irqs)
		lfunc_irq_release(lf->irqs[--lf->nr_irqs]);
}

/* Returns the new lfunc's id, or a negative errno. */
int irqlab_lfunc_create(struct irqlab_dev *idev, const struct irqlab_lfunc_spec *spec)
{
	struct irqlab_lfunc *lf;
	unsigned int i;
	int id, ret;

	if (spec->queue >= idev->nr_queues || !spec->nr_irqs ||
	    spec->nr_irqs > IRQLAB_LFUNC_MAX_IRQS ||
	    (spec->mode != IRQLAB_ROUTE_IMS && spec->mode != IRQLAB_ROUTE_MSIX) ||
	    (spec->mode == IRQLAB_ROUTE_MSIX && spec->slot != IMS_SLOT_ANY))
		return -EINVAL;
	if (idev->queues[spec->queue].lfunc)
		return -EBUSY;

	id = ida_alloc_max(&idev->lfunc_ida, idev->nr_queues - 1, GFP_KERNEL);
	if (id < 0)
		return id;
	lf = kzalloc(sizeof(*lf), GFP_KERNEL);
	if (!lf) {
		ida_free(&idev->lfunc_ida, id);
		return -ENOMEM;
	}
	lf->idev = idev;
	lf->id = id;
	lf->queue = spec->queue;
	/* From here on lf is freed by the release of its kobject. */
	ret = irqlab_lfunc_sysfs_add(lf);
	if (ret)
		goto err_put;

	for (i = 0; i < spec->nr_irqs; i++) {
		struct irqlab_lfunc_irq *li;

		li = i ? lfunc_irq_setup(lf, i, IRQLAB_ROUTE_IMS, IMS_SLOT_ANY)
		       : lfunc_irq_setup(lf, 0, spec->mode, spec->slot);
		if (IS_ERR(li)) {
			ret = PTR_ERR(li);
			goto err_irqs;
		}
		lf->irqs[lf->nr_irqs++] = li;
	}

	lfunc_route(lf, true);
	idev->lfuncs[id] = lf;
	idev->queues[lf->queue].lfunc = lf;
	kobject_uevent(&lf->kobj, KOBJ_ADD);
	return id;

err_irqs:
	lfunc_release_irqs(lf);
	irqlab_lfunc_sysfs_del(lf);
err_put:
	ida_free(&idev->lfunc_ida, id);
	kobject_put(&lf->kobj);
	return ret;
}

/* Reverse of irqlab_lfunc_create(). */
void irqlab_lfunc_destroy(struct irqlab_lfunc *lf)
{
	struct irqlab_dev *idev = lf->idev;

	/* The device stops raising the queue's interrupt before it goes away. */
	lfunc_route(lf, false);
	idev->queues[lf->queue].lfunc = NULL;
	idev->lfuncs[lf->id] = NULL;
	lfunc_release_irqs(lf);
	irqlab_lfunc_sysfs_del(lf);
	ida_free(&idev->lfunc_ida, lf->id);
	kobject_put(&lf->kobj);
}

void irqlab_lfunc_destroy_all(struct irqlab_dev *idev)
{
	unsigned int id;

	if (!idev->lfuncs)
		return;
	for (id = idev->nr_queues; id-- > 0;) {
		if (idev->lfuncs[id])
			irqlab_lfunc_destroy(idev->lfuncs[id]);
	}
}

/* The per-lfunc (index -> Linux irq) lookup; -ENOENT past the last one. */
int irqlab_lfunc_virq(const struct irqlab_lfunc *lf, unsigned int index)
{
	return index < lf->nr_irqs ? (int)lf->irqs[index]->virq : -ENOENT;
}

/*
 * "route Q ims|msix" from ctl: interrupt 0 of queue Q's lfunc becomes an IMS
 * slot of its own or the shared MSI-X vector. Make before break: the new
 * interrupt is set up and the queue routed to it before the old one goes.
 */
int irqlab_lfunc_set_mode(struct irqlab_lfunc *lf, enum irqlab_route mode)
{
	struct irqlab_lfunc_irq *old = lf->irqs[0], *li;

	if (old->mode == mode) {
		lfunc_route(lf, true);
		return 0;
	}
	li = lfunc_irq_setup(lf, 0, mode, IMS_SLOT_ANY);
	if (IS_ERR(li))
		return PTR_ERR(li);
	lf->irqs[0] = li;
	lfunc_route(lf, true);
	lfunc_irq_release(old);
	return 0;
}

/* "mask ims Q"/"unmask ims Q" from ctl: interrupt 0 of queue Q's lfunc. */
int irqlab_lfunc_mask(struct irqlab_dev *idev, unsigned int q, bool mask)
{
	struct irqlab_lfunc_irq *li;

	if (q >= idev->nr_queues)
		return -EINVAL;
	if (!idev->queues[q].lfunc)
		return -ENODEV;
	li = idev->queues[q].lfunc->irqs[0];
	if (li->mode != IRQLAB_ROUTE_IMS)
		return -ENODEV;
	irqlab_ctl_mask(li->virq, &li->disabled, mask);
	return 0;
}

/*
 * The default set-up: one lfunc per queue, interrupt 0 in the mode of the
 * route parameter, or in the other mode when that one is not available. With
 * lfuncs created in queue order, ids and IMS slots follow the queue numbers.
 */
void irqlab_lfuncs_at_probe(struct irqlab_dev *idev)
{
	enum irqlab_route want = irqlab_default_route();
	enum irqlab_route other = want == IRQLAB_ROUTE_IMS ? IRQLAB_ROUTE_MSIX : IRQLAB_ROUTE_IMS;
	struct device *dev = &idev->pdev->dev;
	unsigned int q;
	int ret;

	for (q = 0; q < idev->nr_queues; q++) {
		struct irqlab_lfunc_spec spec = {
			.queue = q, .nr_irqs = 1, .mode = want, .slot = IMS_SLOT_ANY,
		};

		ret = irqlab_lfunc_create(idev, &spec);
		if (ret >= 0)
			continue;
		spec.mode = other;
		if (irqlab_lfunc_create(idev, &spec) >= 0)
			dev_warn(dev, "queue %u routed to %s: no %s interrupt (%d)\n", q,
				 irqlab_route_name(other), irqlab_route_name(want), ret);
		else
			dev_warn(dev, "queue %u has no interrupt (%d)\n", q, ret);
	}
}
