// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: /sys/bus/pci/devices/<bdf>/lfunc/, the directory of
 * the device's logical functions, and its control files create and destroy
 * (their syntax and errors: irqlab_lfunc_sysfs.c). The lfuncs themselves are
 * made and freed by irqlab_lfunc.c; their sysfs objects by
 * irqlab_lfunc_sysfs.c.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "irqlab.h"
#include "irqlab_lfunc_attr.h"

/* ---- lfunc/: create, destroy ---------------------------------------------- */

struct lfunc_dir {
	struct kobject		kobj;
	struct irqlab_dev	*idev;
};

static struct irqlab_dev *dir_idev(struct kobject *kobj)
{
	return container_of(kobj, struct lfunc_dir, kobj)->idev;
}

/* "key=value" words into @spec; -EINVAL for anything else, with a reason. */
static int parse_spec(struct irqlab_dev *idev, char *args, struct irqlab_lfunc_spec *spec,
		      const char **why)
{
	bool have_queue = false;
	char *word, *val;
	unsigned int v;

	while ((word = strsep(&args, " \t\n"))) {
		if (!*word)
			continue;
		val = strchr(word, '=');
		if (!val) {
			*why = "expected key=value words (queue, irqs, mode, slot)";
			return -EINVAL;
		}
		*val++ = '\0';
		if (!strcmp(word, "mode")) {
			if (!strcmp(val, "ims")) {
				spec->mode = IRQLAB_ROUTE_IMS;
			} else if (!strcmp(val, "msix")) {
				spec->mode = IRQLAB_ROUTE_MSIX;
			} else {
				*why = "mode must be ims or msix";
				return -EINVAL;
			}
			continue;
		}
		if (kstrtouint(val, 0, &v)) {
			*why = "a number was expected after '='";
			return -EINVAL;
		}
		if (!strcmp(word, "queue")) {
			spec->queue = v;
			have_queue = true;
		} else if (!strcmp(word, "irqs")) {
			spec->nr_irqs = v;
		} else if (!strcmp(word, "slot")) {
			spec->slot = v > INT_MAX ? INT_MAX : v;
		} else {
			*why = "unknown key (valid: queue, irqs, mode, slot)";
			return -EINVAL;
		}
	}
	if (!have_queue) {
		*why = "queue=Q is required";
		return -EINVAL;
	}
	if (spec->queue >= idev->nr_queues) {
		*why = "queue out of range";
		return -EINVAL;
	}
	if (!spec->nr_irqs || spec->nr_irqs > IRQLAB_LFUNC_MAX_IRQS) {
		*why = "irqs must be 1.." __stringify(IRQLAB_LFUNC_MAX_IRQS);
		return -EINVAL;
	}
	if (spec->slot != IMS_SLOT_ANY &&
	    (spec->mode != IRQLAB_ROUTE_IMS || spec->slot >= idev->ims_slots)) {
		*why = "slot needs mode ims and must be below the device's IMS slot count";
		return -EINVAL;
	}
	return 0;
}

static ssize_t create_store(struct kobject *kobj, const char *buf, size_t len)
{
	struct irqlab_dev *idev = dir_idev(kobj);
	struct irqlab_lfunc_spec spec = {
		.nr_irqs = 1, .mode = irqlab_default_route(), .slot = IMS_SLOT_ANY,
	};
	const char *why = NULL;
	char *args;
	int ret;

	args = kstrndup(buf, len, GFP_KERNEL);
	if (!args)
		return -ENOMEM;
	ret = parse_spec(idev, args, &spec, &why);
	kfree(args);
	if (!ret) {
		mutex_lock(&idev->lock);
		ret = irqlab_lfunc_create(idev, &spec);
		mutex_unlock(&idev->lock);
	}
	if (ret < 0) {
		if (!why)
			why = ret == -EBUSY ? "the queue has an lfunc, or the slot is live" :
			      ret == -ENOSPC ? "no free IMS slot" : "cannot set up its interrupts";
		dev_warn_ratelimited(&idev->pdev->dev,
				     "lfunc/create '%.*s': %s (%d; %u queues, %u IMS slots)\n",
				     (int)strcspn(buf, "\n"), buf, why, ret, idev->nr_queues,
				     idev->ims_slots);
		return ret;
	}
	return len;
}

static ssize_t destroy_store(struct kobject *kobj, const char *buf, size_t len)
{
	struct irqlab_dev *idev = dir_idev(kobj);
	unsigned int id;
	int ret = 0;

	if (kstrtouint(buf, 0, &id))
		return -EINVAL;
	mutex_lock(&idev->lock);
	if (id < idev->nr_queues && idev->lfuncs[id])
		irqlab_lfunc_destroy(idev->lfuncs[id]);
	else
		ret = -ENOENT;
	mutex_unlock(&idev->lock);
	return ret ? ret : len;
}

LFUNC_ATTR_WO(create);
LFUNC_ATTR_WO(destroy);

static struct attribute *lfunc_ctl_attrs[] = { &attr_create.attr, &attr_destroy.attr, NULL };
static const struct attribute_group lfunc_ctl_group = { .attrs = lfunc_ctl_attrs };

static void lfunc_dir_release(struct kobject *kobj)
{
	kfree(container_of(kobj, struct lfunc_dir, kobj));
}

static const struct kobj_type lfunc_dir_ktype = {
	.release	= lfunc_dir_release,
	.sysfs_ops	= &irqlab_lfunc_sysfs_ops,
};

int irqlab_lfunc_sysfs_init(struct irqlab_dev *idev)
{
	struct lfunc_dir *dir;
	int ret;

	dir = kzalloc(sizeof(*dir), GFP_KERNEL);
	if (!dir)
		return -ENOMEM;
	dir->idev = idev;
	ret = kobject_init_and_add(&dir->kobj, &lfunc_dir_ktype, &idev->pdev->dev.kobj, "lfunc");
	if (ret)
		goto err_put;
	/* Not a default group: teardown removes it first (irqlab_lfunc_sysfs_stop()). */
	ret = sysfs_create_group(&dir->kobj, &lfunc_ctl_group);
	if (ret)
		goto err_del;
	idev->lfunc_dir = &dir->kobj;
	return 0;

err_del:
	kobject_del(&dir->kobj);
err_put:
	kobject_put(&dir->kobj);
	return ret;
}

/*
 * No more create/destroy: removing the files waits for writers still inside,
 * so call it without idev->lock, before destroying the lfuncs.
 */
void irqlab_lfunc_sysfs_stop(struct irqlab_dev *idev)
{
	if (idev->lfunc_dir)
		sysfs_remove_group(idev->lfunc_dir, &lfunc_ctl_group);
}

void irqlab_lfunc_sysfs_exit(struct irqlab_dev *idev)
{
	if (!idev->lfunc_dir)
		return;
	kobject_del(idev->lfunc_dir);
	kobject_put(idev->lfunc_dir);
	idev->lfunc_dir = NULL;
}
