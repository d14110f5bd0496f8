// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab_generic's debugfs files, under /sys/kernel/debug/irqlab_generic/<bdf>/:
 *
 *   info   "device VVVV:DDDD", "mode msix|msi|intx", "vectors N", "offered N"
 *          (the table's or capability's size), one "barN mem|io START LEN" per BAR
 *   irqs   "vector irq count", then one line per vector
 *   poke   write "BAR OFFSET WIDTH" to read a register, "BAR OFFSET WIDTH VALUE"
 *          to write one (numbers in C syntax: 0x.. hex); WIDTH is 1, 2, 4 or 8
 *          (8: memory BARs), OFFSET a multiple of it. Read the file for the
 *          last access: "bar 0 offset 0xc width 4 value 0x00000005 read"
 *   ctl    "reset" zeroes the counts; "unmask" re-enables INTx at the function
 *          (refused with EBUSY while the function still asserts it)
 */
#include <linux/debugfs.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "generic.h"

static struct dentry *generic_root;

static int info_show(struct seq_file *s, void *unused)
{
	struct generic_dev *gdev = s->private;
	struct pci_dev *pdev = gdev->pdev;
	int bar, offered = 0;

	if (gdev->mode == GENERIC_MSIX)
		offered = pci_msix_vec_count(pdev);
	else if (gdev->mode == GENERIC_MSI)
		offered = pci_msi_vec_count(pdev);
	else if (gdev->mode == GENERIC_INTX)
		offered = 1;
	seq_printf(s, "device %04x:%04x\n", pdev->vendor, pdev->device);
	seq_printf(s, "mode %s\n", generic_mode_name(gdev->mode));
	seq_printf(s, "vectors %u\n", gdev->nr_vectors);
	seq_printf(s, "offered %d\n", offered);
	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!pci_resource_len(pdev, bar))
			continue;
		seq_printf(s, "bar%d %s 0x%llx %llu%s\n", bar,
			   pci_resource_flags(pdev, bar) & IORESOURCE_IO ? "io" : "mem",
			   (unsigned long long)pci_resource_start(pdev, bar),
			   (unsigned long long)pci_resource_len(pdev, bar),
			   gdev->bars[bar] ? "" : " unmapped");
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(info);

static int irqs_show(struct seq_file *s, void *unused)
{
	struct generic_dev *gdev = s->private;
	unsigned int i;

	seq_puts(s, "vector irq count\n");
	for (i = 0; i < gdev->nr_vectors; i++)
		seq_printf(s, "%u %d %lld\n", i, gdev->vectors[i].irq,
			   (long long)atomic64_read(&gdev->vectors[i].count));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(irqs);

static u64 bar_read(void __iomem *p, unsigned int width)
{
	switch (width) {
	case 1:
		return ioread8(p);
	case 2:
		return ioread16(p);
	case 4:
		return ioread32(p);
	default:
		return ioread64(p);
	}
}

static void bar_write(void __iomem *p, unsigned int width, u64 v)
{
	switch (width) {
	case 1:
		iowrite8(v, p);
		break;
	case 2:
		iowrite16(v, p);
		break;
	case 4:
		iowrite32(v, p);
		break;
	default:
		iowrite64(v, p);
		break;
	}
}

/* One access, checked against the BAR; the result is kept for reading the file. */
static int generic_poke(struct generic_dev *gdev, char *cmd)
{
	struct pci_dev *pdev = gdev->pdev;
	char *words[5];
	unsigned int n = 0, bar, width;
	u64 offset, value = 0;
	char *w;

	while ((w = strsep(&cmd, " \t\n")) != NULL) {
		if (!*w)
			continue;
		if (n == ARRAY_SIZE(words))
			return -EINVAL;
		words[n++] = w;
	}
	if (n < 3 || n > 4)
		return -EINVAL;
	if (kstrtouint(words[0], 0, &bar) || kstrtou64(words[1], 0, &offset) ||
	    kstrtouint(words[2], 0, &width) || (n == 4 && kstrtou64(words[3], 0, &value)))
		return -EINVAL;
	if (bar >= PCI_STD_NUM_BARS || !gdev->bars[bar])
		return -ENXIO;
	if (width != 1 && width != 2 && width != 4 && width != 8)
		return -EINVAL;
	if (width == 8 && !(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
		return -EINVAL;
	if (offset % width || offset + width > pci_resource_len(pdev, bar))
		return -ERANGE;
	if (width < 8 && value >> (8 * width))
		return -EOVERFLOW;

	mutex_lock(&gdev->poke_lock);
	if (n == 4) {
		u16 vendor;

		bar_write(gdev->bars[bar] + offset, width, value);
		/*
		 * A memory write is posted. A config read is not, and may not pass
		 * it on the way to the function: when it returns, the write has
		 * arrived. A read of the BAR would do the same but could have side
		 * effects (read-to-clear registers); config space has none.
		 */
		pci_read_config_word(pdev, PCI_VENDOR_ID, &vendor);
	} else {
		value = bar_read(gdev->bars[bar] + offset, width);
	}
	snprintf(gdev->poke_result, sizeof(gdev->poke_result), "bar %u offset 0x%llx width %u value 0x%0*llx %s\n",
		 bar, (unsigned long long)offset, width, (int)(2 * width), (unsigned long long)value,
		 n == 4 ? "written" : "read");
	mutex_unlock(&gdev->poke_lock);
	return 0;
}

static ssize_t poke_write(struct file *f, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct generic_dev *gdev = file_inode(f)->i_private;
	char buf[96];
	int ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	ret = generic_poke(gdev, buf);
	return ret ? ret : len;
}

static ssize_t poke_read(struct file *f, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct generic_dev *gdev = file_inode(f)->i_private;
	char buf[sizeof(gdev->poke_result)];

	mutex_lock(&gdev->poke_lock);
	strscpy(buf, gdev->poke_result[0] ? gdev->poke_result : "no access yet: write \"BAR OFFSET WIDTH [VALUE]\"\n",
		sizeof(buf));
	mutex_unlock(&gdev->poke_lock);
	return simple_read_from_buffer(ubuf, len, ppos, buf, strlen(buf));
}

static const struct file_operations poke_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= poke_read,
	.write	= poke_write,
	.llseek	= default_llseek,
};

static ssize_t ctl_write(struct file *f, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct generic_dev *gdev = file_inode(f)->i_private;
	char buf[16];

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	strim(buf);
	if (!strcmp(buf, "reset")) {
		generic_reset_counts(gdev);
	} else if (!strcmp(buf, "unmask")) {
		if (gdev->mode != GENERIC_INTX)
			return -EINVAL;
		if (!generic_unmask_intx(gdev))
			return -EBUSY;
	} else {
		return -EINVAL;
	}
	return len;
}

static const struct file_operations ctl_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= ctl_write,
	.llseek	= noop_llseek,
};

void generic_debugfs_add(struct generic_dev *gdev)
{
	struct dentry *d;

	/* debugfs is for people and tests: a failure here leaves the driver working. */
	if (IS_ERR_OR_NULL(generic_root))
		return;
	d = debugfs_create_dir(pci_name(gdev->pdev), generic_root);
	if (IS_ERR(d))
		return;
	gdev->debugfs = d;
	debugfs_create_file("info", 0444, d, gdev, &info_fops);
	debugfs_create_file("irqs", 0444, d, gdev, &irqs_fops);
	debugfs_create_file("poke", 0600, d, gdev, &poke_fops);
	debugfs_create_file("ctl", 0200, d, gdev, &ctl_fops);
}

void generic_debugfs_remove(struct generic_dev *gdev)
{
	/* Waits for readers and writers inside these files to leave. */
	debugfs_remove_recursive(gdev->debugfs);
	gdev->debugfs = NULL;
}

void generic_debugfs_init(void)
{
	generic_root = debugfs_create_dir(GENERIC_DRV_NAME, NULL);
}

void generic_debugfs_exit(void)
{
	debugfs_remove_recursive(generic_root);
	generic_root = NULL;
}
