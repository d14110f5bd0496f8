// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab debugfs interface: /sys/kernel/debug/irqlab/<pci name>/
 * (e.g. /sys/kernel/debug/irqlab/0000:00:03.0/). Line based and stable: the
 * TypeScript tests parse it. Fields are separated by one space; numbers are
 * decimal unless written 0x...; every line ends with '\n'.
 *
 * info (read): "key value" lines, in this order:
 *	mode devmem|sysmem		where the IMS table is
 *	queues N			work queues in use
 *	ims_slots N			IMS slots in use (0: no IMS table)
 *	msix_vectors N			MSI-X vectors allocated (0: no MSI-X)
 *	parent_domain NAME		IMS parent (INTEL-IR-..., VECTOR), or "none"
 *	ims_domain NAME			e.g. irqlab-ims-0000:00:03.0, or "none"
 *	ims_bar N			BAR holding the IMS table
 *	ims_offset 0xHHHHHHHH		table offset in that BAR
 *	version 0xHHHHHHHH		VERSION register (major << 16 | minor)
 *	busmaster 0|1			as last set by the driver
 *	route_default ims|msix		module parameter route
 *   New keys may be appended; existing ones keep name and format.
 *
 * queues (read): the header line
 *	queue irq route index addr data count
 *   then one line per queue, e.g.
 *	0 45 ims 0 0x00000000fee00000 0x00000031 12
 *   irq: Linux irq the queue's interrupts arrive on (its IMS irq for ims, the
 *   vector's irq for msix, 0 for none); route: ims|msix|none; index: IMS slot
 *   or MSI-X vector; addr (0x + 16 hex digits) and data (0x + 8 hex digits):
 *   what the IMS slot holds now (read from the table) for ims, the cached MSI
 *   message of the vector for msix, zero for none; count: interrupts the
 *   handler saw for this queue since the last reset_counts (an MSI-X vector
 *   counts for every queue routed to it).
 *
 * msix (read): the header line
 *	vector irq count masked pending
 *   then one line per vector, e.g. "0 40 7 0 0". masked: the Mask bit of the
 *   vector's control word in the MSI-X table as the guest reads it (1/0);
 *   pending: the vector's bit in the Pending Bit Array as the guest reads it
 *   (1/0, or - when the PBA could not be mapped).
 *
 * hierarchy (read): one line per queue IMS irq, then one per MSI-X irq:
 *	q0 irq 45: irqlab-ims-0000:00:03.0 > INTEL-IR-0-15 > VECTOR
 *	msix0 irq 40: IR-PCI-MSIX-0000:00:03.0-12 > INTEL-IR-0-15 > VECTOR
 *   each level's irq_domain name, from the irq's top level down its
 *   parent_data chain ("?" for a level without domain or name).
 *
 * regs (read): the device registers as the guest reads them now, "NAME
 *   0xHHHHHHHH" per line: ID VERSION NUM_QUEUES IMS_CAP IMS_OFFSET CTRL
 *   SCRATCH DB_COUNT DB_LAST IMS_PENDING_LO IMS_PENDING_HI.
 *
 * run (read): the last storm/reads/pingpong loop, one line
 *	op storm|reads|pingpong n N value 0xHHHHHHHH loop_ns L read_ns R
 *   value: DB_COUNT read after a storm, the ID register after reads; loop_ns:
 *   the loop itself; read_ns: the read after a storm (it waits behind every
 *   posted write). "op none" before any run.
 *
 * ctl (write only): one command per write, trailing newline allowed:
 *	mask ims N | unmask ims N	disable_irq/enable_irq on queue N's IMS irq
 *	mask msix N | unmask msix N	disable_irq/enable_irq on vector N's irq
 *	hwmask ims N | hwunmask ims N	set/clear slot N's mask bit only (the irq
 *					stays enabled in the kernel)
 *	route Q ims|msix		ims: slot Q; msix: vector Q % msix_vectors
 *	busmaster 0|1			pci_clear_master / pci_set_master
 *	submit Q N			write N to queue Q's doorbell
 *	reset_counts			zero every queue and vector count
 *	storm N				N posted writes to DOORBELL, then one read of
 *					DB_COUNT (result in "run")
 *	reads N				N reads of the ID register (result in "run")
 *	pingpong Q N			N times: doorbell of queue Q, wait for its
 *					interrupt (result in "run"; value = timeouts)
 *   mask/unmask do not nest: masking a masked irq is a no-op. A malformed
 *   command or an index out of range fails with EINVAL, a well-formed one
 *   the device cannot do (no IMS irq for that queue, no MSI-X) with ENODEV;
 *   both log a warning naming the command.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/kernel.h>
#include <linux/msi.h>
#include <linux/seq_file.h>

#include "irqlab.h"

static struct dentry *irqlab_debugfs_root;

static const char *domain_name(struct irq_domain *d)
{
	return d && d->name ? d->name : "none";
}

static int info_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;

	mutex_lock(&idev->lock);
	seq_printf(m, "mode %s\n", idev->ims_sysmem ? "sysmem" : "devmem");
	seq_printf(m, "queues %u\n", idev->nr_queues);
	seq_printf(m, "ims_slots %u\n", idev->ims_slots);
	seq_printf(m, "msix_vectors %u\n", idev->nr_vectors);
	seq_printf(m, "parent_domain %s\n", domain_name(idev->ims_parent));
	seq_printf(m, "ims_domain %s\n", domain_name(idev->ims_domain));
	seq_printf(m, "ims_bar %u\n", idev->ims_bar_nr);
	seq_printf(m, "ims_offset 0x%08x\n", idev->ims_offset);
	seq_printf(m, "version 0x%08x\n", idev->version);
	seq_printf(m, "busmaster %d\n", idev->busmaster);
	seq_printf(m, "route_default %s\n", irqlab_route_name(irqlab_default_route()));
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(info);

static int queues_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int q;

	mutex_lock(&idev->lock);
	seq_puts(m, "queue irq route index addr data count\n");
	for (q = 0; q < idev->nr_queues; q++) {
		struct irqlab_queue *queue = &idev->queues[q];
		enum irqlab_route r = READ_ONCE(queue->route);
		unsigned int index = READ_ONCE(queue->route_index);
		struct msi_msg msg = { };
		unsigned int irq = 0;

		if (r == IRQLAB_ROUTE_IMS) {
			irq = queue->ims_irq;
			irqlab_ims_read_slot(idev, index, &msg);
		} else if (r == IRQLAB_ROUTE_MSIX && index < idev->nr_vectors) {
			irq = idev->vectors[index].irq;
			get_cached_msi_msg(irq, &msg);
		}
		seq_printf(m, "%u %u %s %u 0x%016llx 0x%08x %lld\n", q, irq, irqlab_route_name(r),
			   index, (u64)msg.address_hi << 32 | msg.address_lo, msg.data,
			   (long long)atomic64_read(&queue->count));
	}
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(queues);

/*
 * The vector control word as the guest reads it from the MSI-X table
 * (QEMU emulates the table); the irq's masked state if the table is not
 * mapped.
 */
static int msix_masked(struct irqlab_dev *idev, struct irqlab_vector *vec)
{
	void __iomem *table = idev->pdev->msix_base;

	if (table) {
		u32 ctrl = readl(table + vec->index * PCI_MSIX_ENTRY_SIZE +
				 PCI_MSIX_ENTRY_VECTOR_CTRL);

		return !!(ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
	}
	return irqd_irq_masked(irq_get_irq_data(vec->irq));
}

static int msix_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int v;

	mutex_lock(&idev->lock);
	seq_puts(m, "vector irq count masked pending\n");
	for (v = 0; v < idev->nr_vectors; v++) {
		struct irqlab_vector *vec = &idev->vectors[v];

		seq_printf(m, "%u %u %lld %d ", v, vec->irq,
			   (long long)atomic64_read(&vec->count), msix_masked(idev, vec));
		if (idev->msix_pba)
			seq_printf(m, "%u\n", (readl(idev->msix_pba + (v / 32) * 4) >> (v % 32)) & 1);
		else
			seq_puts(m, "-\n");
	}
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(msix);

static void show_chain(struct seq_file *m, const char *label, unsigned int index,
		       unsigned int irq)
{
	struct irq_data *d = irq_get_irq_data(irq);
	const char *sep = "";

	seq_printf(m, "%s%u irq %u:", label, index, irq);
	for (; d; d = d->parent_data) {
		seq_printf(m, "%s %s", sep, d->domain && d->domain->name ? d->domain->name : "?");
		sep = " >";
	}
	seq_putc(m, '\n');
}

static int hierarchy_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int i;

	mutex_lock(&idev->lock);
	for (i = 0; i < idev->nr_queues; i++) {
		if (idev->queues[i].ims_irq)
			show_chain(m, "q", i, idev->queues[i].ims_irq);
	}
	for (i = 0; i < idev->nr_vectors; i++)
		show_chain(m, "msix", i, idev->vectors[i].irq);
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hierarchy);

static const struct { const char *name; unsigned int offset; } irqlab_regs[] = {
	{ "ID", IRQLAB_REG_ID }, { "VERSION", IRQLAB_REG_VERSION },
	{ "NUM_QUEUES", IRQLAB_REG_NUM_QUEUES }, { "IMS_CAP", IRQLAB_REG_IMS_CAP },
	{ "IMS_OFFSET", IRQLAB_REG_IMS_OFFSET }, { "CTRL", IRQLAB_REG_CTRL },
	{ "SCRATCH", IRQLAB_REG_SCRATCH }, { "DB_COUNT", IRQLAB_REG_DB_COUNT },
	{ "DB_LAST", IRQLAB_REG_DB_LAST }, { "IMS_PENDING_LO", IRQLAB_REG_IMS_PENDING_LO },
	{ "IMS_PENDING_HI", IRQLAB_REG_IMS_PENDING_HI },
};

static int regs_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(irqlab_regs); i++)
		seq_printf(m, "%s 0x%08x\n", irqlab_regs[i].name,
			   readl(idev->regs + irqlab_regs[i].offset));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(regs);

static int run_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	struct irqlab_run *r = &idev->last_run;

	mutex_lock(&idev->lock);
	if (r->op)
		seq_printf(m, "op %s n %u value 0x%08x loop_ns %llu read_ns %llu\n", r->op, r->n,
			   r->value, (unsigned long long)r->loop_ns, (unsigned long long)r->read_ns);
	else
		seq_puts(m, "op none\n");
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(run);

void irqlab_debugfs_add(struct irqlab_dev *idev)
{
	struct dentry *dir;

	if (IS_ERR_OR_NULL(irqlab_debugfs_root))
		return;
	dir = debugfs_create_dir(pci_name(idev->pdev), irqlab_debugfs_root);
	if (IS_ERR(dir))
		return;
	idev->debugfs_dir = dir;
	debugfs_create_file("info", 0444, dir, idev, &info_fops);
	debugfs_create_file("queues", 0444, dir, idev, &queues_fops);
	debugfs_create_file("msix", 0444, dir, idev, &msix_fops);
	debugfs_create_file("hierarchy", 0444, dir, idev, &hierarchy_fops);
	debugfs_create_file("ctl", 0200, dir, idev, &irqlab_ctl_fops);
	debugfs_create_file("regs", 0444, dir, idev, &regs_fops);
	debugfs_create_file("run", 0444, dir, idev, &run_fops);
}

/* debugfs_remove_recursive() waits for readers and writers still inside. */
void irqlab_debugfs_remove(struct irqlab_dev *idev)
{
	debugfs_remove_recursive(idev->debugfs_dir);
	idev->debugfs_dir = NULL;
}

void irqlab_debugfs_init(void)
{
	irqlab_debugfs_root = debugfs_create_dir(IRQLAB_DRV_NAME, NULL);
}

void irqlab_debugfs_exit(void)
{
	debugfs_remove_recursive(irqlab_debugfs_root);
	irqlab_debugfs_root = NULL;
}
