/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irqlab guest driver: the attribute plumbing the lfunc sysfs objects
 * (irqlab_lfunc_sysfs.c) and the lfunc/ control directory
 * (irqlab_lfunc_ctl.c) share: one show or store function per file, on a
 * bare kobject.
 */
#ifndef IRQLAB_LFUNC_ATTR_H
#define IRQLAB_LFUNC_ATTR_H

#include <linux/kobject.h>
#include <linux/sysfs.h>

struct lfunc_attr {
	struct attribute attr;
	ssize_t (*show)(struct kobject *kobj, char *buf);
	ssize_t (*store)(struct kobject *kobj, const char *buf, size_t len);
};

extern const struct sysfs_ops irqlab_lfunc_sysfs_ops;

#define LFUNC_ATTR_RO(_name) \
	static struct lfunc_attr attr_##_name = { .attr = { .name = #_name, .mode = 0444 }, \
						  .show = _name##_show }
#define LFUNC_ATTR_WO(_name) \
	static struct lfunc_attr attr_##_name = { .attr = { .name = #_name, .mode = 0200 }, \
						  .store = _name##_store }

#endif
