// SPDX-License-Identifier: GPL-2.0
/*
 * buggy_irq: a driver with interrupt bugs ON PURPOSE, for the lab to catch.
 * Do not copy it; qemu/guest/ is the driver to copy.
 *
 * It binds the example counter device (examples/counter-device.ts, f1ab:0002:
 * 4 MSI-X vectors, a RAISE register), takes MSI-X vector 0 and counts its
 * interrupts in /sys/kernel/debug/buggy_irq/count. Which bug it carries is the
 * module parameter `bug`:
 *
 *   bug=sleep    the handler takes a mutex. A hard interrupt handler runs in
 *                atomic context and must never sleep; an uncontended
 *                mutex_lock() happens not to, so a stock kernel says nothing,
 *                while CONFIG_DEBUG_ATOMIC_SLEEP reports "sleeping function
 *                called from invalid context" on the first interrupt.
 *   bug=irqlock  the handler takes a spinlock that process context (a write to
 *                /sys/kernel/debug/buggy_irq/poke) also takes, with plain
 *                spin_lock() instead of spin_lock_irqsave(). If the interrupt
 *                comes while the poke holds the lock on the same CPU, the CPU
 *                deadlocks; lockdep (CONFIG_PROVE_LOCKING) reports the
 *                "inconsistent lock state" as soon as both uses were seen,
 *                whether or not the deadlock ever happens.
 *   bug=none     neither (the default): a correct driver.
 */
#include <linux/debugfs.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>

#define BUGGY_VENDOR	0xf1ab
#define BUGGY_DEVICE	0x0002

static char *bug = "none";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "which bug to carry: none, sleep or irqlock");

enum buggy_kind { BUGGY_NONE, BUGGY_SLEEP, BUGGY_IRQLOCK };

struct buggy_dev {
	struct pci_dev *pdev;
	enum buggy_kind kind;
	int irq;
	struct mutex mutex;		/* bug=sleep: taken in the handler */
	spinlock_t lock;		/* bug=irqlock: taken by handler and poke */
	atomic64_t count;		/* interrupts handled */
	u64 pokes;			/* under lock */
	struct dentry *dir;
};

static irqreturn_t buggy_handler(int irq, void *data)
{
	struct buggy_dev *bd = data;
	unsigned long flags;

	switch (bd->kind) {
	case BUGGY_SLEEP:
		mutex_lock(&bd->mutex);		/* BUG: may sleep in hard irq context */
		mutex_unlock(&bd->mutex);
		break;
	case BUGGY_IRQLOCK:
		spin_lock(&bd->lock);		/* fine here: irqs are off in a handler */
		spin_unlock(&bd->lock);
		break;
	case BUGGY_NONE:
		spin_lock_irqsave(&bd->lock, flags);
		spin_unlock_irqrestore(&bd->lock, flags);
		break;
	}
	atomic64_inc(&bd->count);
	return IRQ_HANDLED;
}

static ssize_t poke_write(struct file *file, const char __user *buf, size_t len, loff_t *ppos)
{
	struct buggy_dev *bd = file->private_data;
	unsigned long flags;

	if (bd->kind == BUGGY_IRQLOCK) {
		spin_lock(&bd->lock);		/* BUG: the irq handler takes this lock too */
		bd->pokes++;
		spin_unlock(&bd->lock);
	} else {
		spin_lock_irqsave(&bd->lock, flags);
		bd->pokes++;
		spin_unlock_irqrestore(&bd->lock, flags);
	}
	return len;
}

static const struct file_operations poke_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = poke_write,
	.llseek = noop_llseek,
};

static int count_get(void *data, u64 *val)
{
	struct buggy_dev *bd = data;

	*val = atomic64_read(&bd->count);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(count_fops, count_get, NULL, "%llu\n");

static int buggy_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct buggy_dev *bd;
	int ret;

	bd = devm_kzalloc(&pdev->dev, sizeof(*bd), GFP_KERNEL);
	if (!bd)
		return -ENOMEM;
	bd->pdev = pdev;
	if (!strcmp(bug, "sleep"))
		bd->kind = BUGGY_SLEEP;
	else if (!strcmp(bug, "irqlock"))
		bd->kind = BUGGY_IRQLOCK;
	else if (strcmp(bug, "none")) {
		dev_err(&pdev->dev, "bug=%s: want none, sleep or irqlock\n", bug);
		return -EINVAL;
	}
	mutex_init(&bd->mutex);
	spin_lock_init(&bd->lock);
	atomic64_set(&bd->count, 0);

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	/* MSI-X messages are memory writes by the device: it must be a bus master. */
	pci_set_master(pdev);
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret < 0)
		return ret;
	bd->irq = pci_irq_vector(pdev, 0);
	ret = request_irq(bd->irq, buggy_handler, 0, "buggy_irq", bd);
	if (ret)
		goto free_vectors;
	bd->dir = debugfs_create_dir("buggy_irq", NULL);
	debugfs_create_file("poke", 0200, bd->dir, bd, &poke_fops);
	debugfs_create_file_unsafe("count", 0444, bd->dir, bd, &count_fops);
	pci_set_drvdata(pdev, bd);
	dev_info(&pdev->dev, "buggy_irq: bug=%s, irq %d\n", bug, bd->irq);
	return 0;

free_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

static void buggy_remove(struct pci_dev *pdev)
{
	struct buggy_dev *bd = pci_get_drvdata(pdev);

	/* Reverse order of probe: nobody reads the files once the handler is gone. */
	debugfs_remove_recursive(bd->dir);
	free_irq(bd->irq, bd);
	pci_free_irq_vectors(pdev);
}

static const struct pci_device_id buggy_ids[] = {
	{ PCI_DEVICE(BUGGY_VENDOR, BUGGY_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, buggy_ids);

static struct pci_driver buggy_driver = {
	.name = "buggy_irq",
	.id_table = buggy_ids,
	.probe = buggy_probe,
	.remove = buggy_remove,
};
module_pci_driver(buggy_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("irqlab example: interrupt bugs on purpose, for the kernel-log watchdog");
