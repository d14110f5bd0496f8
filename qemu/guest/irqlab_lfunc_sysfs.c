// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: logical functions in sysfs, under the PCI device.
 * One value per file, decimal, newline-terminated; the TypeScript view in
 * src/guest/lfunc.ts parses it.
 *
 * /sys/bus/pci/devices/<bdf>/lfunc/
 *	create		(write) "queue=Q [irqs=N] [mode=ims|msix] [slot=S]": a new
 *			lfunc on work queue Q (which must have none) with N
 *			interrupts (1..4, default 1); interrupt 0 carries the
 *			queue's completions, in mode ims (an IMS slot of its own:
 *			S, or the lowest free one) or msix (the shared vector
 *			Q % vectors), default the route module parameter;
 *			interrupts 1.. are IMS slots from the allocator. The new
 *			lfunc takes the lowest free id. Errors: EINVAL (malformed,
 *			out of range, unknown key), EBUSY (Q has an lfunc, slot S
 *			is live), ENOSPC (no free slot), ENODEV (no IMS / MSI-X).
 *	destroy		(write) "ID": frees the lfunc's interrupts and slots, and
 *			turns its queue's interrupt off. ENOENT: no such lfunc.
 *	<id>/queue	the work queue
 *	<id>/irqs/<irq>/	one directory per interrupt, named by its Linux irq
 *			number as the device's msi_irqs/ entries are:
 *		index		position in the lfunc (0: the queue's completions)
 *		mode		ims | msix
 *		hwirq		IMS slot, or MSI-X vector
 *		affinity	CPUs asked for, as /proc/irq/<irq>/smp_affinity_list
 *		effective_affinity  CPUs it targets now, as
 *				/proc/irq/<irq>/effective_affinity_list
 *
 * The show functions take no lock: what they read is fixed for the life of
 * the object (an interrupt that changes mode is a new directory), and
 * kobject_del() waits for readers before the driver frees anything.
 */
#include <linux/irq.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "irqlab.h"
#include "irqlab_lfunc_attr.h"

static ssize_t lfunc_attr_show(struct kobject *kobj, struct attribute *attr, char *buf)
{
	struct lfunc_attr *a = container_of(attr, struct lfunc_attr, attr);

	return a->show ? a->show(kobj, buf) : -EIO;
}

static ssize_t lfunc_attr_store(struct kobject *kobj, struct attribute *attr, const char *buf,
				size_t len)
{
	struct lfunc_attr *a = container_of(attr, struct lfunc_attr, attr);

	return a->store ? a->store(kobj, buf, len) : -EIO;
}

const struct sysfs_ops irqlab_lfunc_sysfs_ops = {
	.show	= lfunc_attr_show,
	.store	= lfunc_attr_store,
};

/* ---- lfunc/<id>/irqs/<irq>/ ----------------------------------------------- */

struct lfunc_irq_kobj {
	struct kobject		kobj;
	struct irqlab_lfunc_irq	*li;
};

static struct irqlab_lfunc_irq *kobj_li(struct kobject *kobj)
{
	return container_of(kobj, struct lfunc_irq_kobj, kobj)->li;
}

static ssize_t index_show(struct kobject *kobj, char *buf)
{
	return sysfs_emit(buf, "%u\n", kobj_li(kobj)->index);
}

static ssize_t mode_show(struct kobject *kobj, char *buf)
{
	return sysfs_emit(buf, "%s\n", irqlab_route_name(kobj_li(kobj)->mode));
}

static ssize_t hwirq_show(struct kobject *kobj, char *buf)
{
	return sysfs_emit(buf, "%u\n", kobj_li(kobj)->hwirq);
}

static ssize_t affinity_show(struct kobject *kobj, char *buf)
{
	struct irq_data *d = irq_get_irq_data(kobj_li(kobj)->virq);

	return d ? sysfs_emit(buf, "%*pbl\n", cpumask_pr_args(irq_data_get_affinity_mask(d)))
		 : -ENODEV;
}

static ssize_t effective_affinity_show(struct kobject *kobj, char *buf)
{
	struct irq_data *d = irq_get_irq_data(kobj_li(kobj)->virq);

	return d ? sysfs_emit(buf, "%*pbl\n",
			      cpumask_pr_args(irq_data_get_effective_affinity_mask(d)))
		 : -ENODEV;
}

LFUNC_ATTR_RO(index);
LFUNC_ATTR_RO(mode);
LFUNC_ATTR_RO(hwirq);
LFUNC_ATTR_RO(affinity);
LFUNC_ATTR_RO(effective_affinity);

static struct attribute *lfunc_irq_attrs[] = {
	&attr_index.attr, &attr_mode.attr, &attr_hwirq.attr, &attr_affinity.attr,
	&attr_effective_affinity.attr, NULL,
};
ATTRIBUTE_GROUPS(lfunc_irq);

static void lfunc_irq_kobj_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct lfunc_irq_kobj, kobj));
}

static const struct kobj_type lfunc_irq_ktype = {
	.release	= lfunc_irq_kobj_release,
	.sysfs_ops	= &irqlab_lfunc_sysfs_ops,
	.default_groups	= lfunc_irq_groups,
};

int irqlab_lfunc_sysfs_add_irq(struct irqlab_lfunc_irq *li)
{
	struct lfunc_irq_kobj *ik;
	int ret;

	ik = kzalloc(sizeof(*ik), GFP_KERNEL);
	if (!ik)
		return -ENOMEM;
	ik->li = li;
	ret = kobject_init_and_add(&ik->kobj, &lfunc_irq_ktype, li->lf->irqs_dir, "%u", li->virq);
	if (ret) {
		kobject_put(&ik->kobj);
		return ret;
	}
	li->kobj = &ik->kobj;
	return 0;
}

void irqlab_lfunc_sysfs_del_irq(struct irqlab_lfunc_irq *li)
{
	if (!li->kobj)
		return;
	kobject_del(li->kobj);
	kobject_put(li->kobj);
	li->kobj = NULL;
}

/* ---- lfunc/<id>/ ------------------------------------------------------------ */

static ssize_t queue_show(struct kobject *kobj, char *buf)
{
	return sysfs_emit(buf, "%u\n", container_of(kobj, struct irqlab_lfunc, kobj)->queue);
}
LFUNC_ATTR_RO(queue);

static struct attribute *lfunc_attrs[] = { &attr_queue.attr, NULL };
ATTRIBUTE_GROUPS(lfunc);

static void lfunc_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct irqlab_lfunc, kobj));
}

static const struct kobj_type lfunc_ktype = {
	.release	= lfunc_release,
	.sysfs_ops	= &irqlab_lfunc_sysfs_ops,
	.default_groups	= lfunc_groups,
};

/* On failure the caller still drops lf with kobject_put(), which frees it. */
int irqlab_lfunc_sysfs_add(struct irqlab_lfunc *lf)
{
	int ret;

	ret = kobject_init_and_add(&lf->kobj, &lfunc_ktype, lf->idev->lfunc_dir, "%u", lf->id);
	if (ret)
		return ret;
	lf->irqs_dir = kobject_create_and_add("irqs", &lf->kobj);
	if (!lf->irqs_dir) {
		kobject_del(&lf->kobj);
		return -ENOMEM;
	}
	return 0;
}

/* After every interrupt's directory is gone; the caller then drops lf. */
void irqlab_lfunc_sysfs_del(struct irqlab_lfunc *lf)
{
	kobject_del(lf->irqs_dir);
	kobject_put(lf->irqs_dir);
	lf->irqs_dir = NULL;
	kobject_del(&lf->kobj);
}
