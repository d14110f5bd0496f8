// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab debugfs: the write-only file "ctl", one command per write. The
 * commands, their arguments and their errors are documented with the rest of
 * the debugfs interface at the top of irqlab_debugfs.c.
 */
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "irqlab.h"

#define IRQLAB_CTL_MAX	64

static int parse_uint(const char *tok, unsigned int *val)
{
	return tok ? kstrtouint(tok, 0, val) : -EINVAL;
}

/* Next blank-separated word of *args, or NULL. */
static char *next_word(char **args)
{
	char *w;

	do {
		w = strsep(args, " \t");
	} while (w && !*w);
	return w;
}

/* Returns 0, or a negative errno; -EINVAL for a malformed command. */
static int ctl_exec(struct irqlab_dev *idev, char *cmd)
{
	char *args = cmd, *verb, *a, *b;
	unsigned int x, y;

	verb = next_word(&args);
	a = next_word(&args);
	b = next_word(&args);
	if (!verb || next_word(&args))
		return -EINVAL;

	if (!strcmp(verb, "mask") || !strcmp(verb, "unmask")) {
		bool mask = verb[0] == 'm';

		if (!a || parse_uint(b, &x))
			return -EINVAL;
		if (!strcmp(a, "ims"))
			return irqlab_lfunc_mask(idev, x, mask);
		if (!strcmp(a, "msix"))
			return irqlab_mask_msix(idev, x, mask);
		return -EINVAL;
	}
	if (!strcmp(verb, "hwmask") || !strcmp(verb, "hwunmask")) {
		if (!a || strcmp(a, "ims") || parse_uint(b, &x))
			return -EINVAL;
		return irqlab_ims_hwmask(idev, x, verb[2] == 'm');
	}
	if (!strcmp(verb, "route")) {
		enum irqlab_route r;

		if (parse_uint(a, &x) || x >= idev->nr_queues || !b)
			return -EINVAL;
		if (!strcmp(b, "ims"))
			r = IRQLAB_ROUTE_IMS;
		else if (!strcmp(b, "msix"))
			r = IRQLAB_ROUTE_MSIX;
		else
			return -EINVAL;
		if (!idev->queues[x].lfunc)
			return -ENODEV;
		return irqlab_lfunc_set_mode(idev->queues[x].lfunc, r);
	}
	if (!strcmp(verb, "busmaster")) {
		if (b || parse_uint(a, &x) || x > 1)
			return -EINVAL;
		irqlab_set_busmaster(idev, x);
		return 0;
	}
	if (!strcmp(verb, "submit")) {
		if (parse_uint(a, &x) || parse_uint(b, &y))
			return -EINVAL;
		return irqlab_submit(idev, x, y);
	}
	if (!strcmp(verb, "storm") || !strcmp(verb, "reads")) {
		if (b || parse_uint(a, &x))
			return -EINVAL;
		return verb[0] == 's' ? irqlab_storm(idev, x) : irqlab_mmio_reads(idev, x);
	}
	if (!strcmp(verb, "pingpong")) {
		if (parse_uint(a, &x) || parse_uint(b, &y))
			return -EINVAL;
		return irqlab_pingpong(idev, x, y);
	}
	if (!strcmp(verb, "reset_counts")) {
		if (a)
			return -EINVAL;
		irqlab_reset_counts(idev);
		return 0;
	}
	return -EINVAL;
}

static ssize_t ctl_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct irqlab_dev *idev = file->private_data;
	char buf[IRQLAB_CTL_MAX], orig[IRQLAB_CTL_MAX];
	char *cmd;
	int ret;

	if (len >= sizeof(buf)) {
		pr_warn("irqlab %s: ctl: command too long (%zu bytes)\n",
			pci_name(idev->pdev), len);
		return -EINVAL;
	}
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	cmd = strim(buf);
	strscpy(orig, cmd, sizeof(orig));	/* ctl_exec() splits cmd in place */

	mutex_lock(&idev->lock);
	ret = ctl_exec(idev, cmd);
	mutex_unlock(&idev->lock);
	if (ret) {
		pr_warn("irqlab %s: ctl: '%s' failed: %d\n", pci_name(idev->pdev), orig, ret);
		return ret;
	}
	return len;
}

const struct file_operations irqlab_ctl_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= ctl_write,
};
