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
 *	lfuncs N			logical functions now
 *	ims_slots_live N		IMS slots with an interrupt allocated
 *	unflushed_mask 0|1		module parameter unflushed_mask
 *   New keys may be appended; existing ones keep name and format.
 *
 * queues (read): the header line
 *	queue irq route index addr data count lfunc
 *   then one line per queue, e.g.
 *	0 45 ims 0 0x00000000fee00000 0x00000031 12 0
 *   irq: Linux irq the queue's interrupts arrive on (interrupt 0 of its lfunc:
 *   an IMS irq for ims, the vector's irq for msix; 0 for none); route:
 *   ims|msix|none; index: IMS slot or MSI-X vector; addr (0x + 16 hex
 *   digits) and data (0x + 8 hex digits): what the IMS slot holds now (read
 *   from the table) for ims, the cached MSI message of the vector for msix,
 *   zero for none; count: interrupts the handlers saw for this queue since
 *   the last reset_counts (an MSI-X vector counts for every queue routed to
 *   it); lfunc: the queue's logical function, or "-".
 *
 * lfuncs (read): the header line
 *	lfunc queue index irq mode hwirq addr data masked count effective_affinity
 *   then one line per interrupt of each logical function (sysfs lfunc/<id>/
 *   shows the same objects), e.g.
 *	3 3 0 48 ims 3 0x00000000fee01000 0x00000023 0 5 1
 *   mode ims|msix; hwirq: IMS slot or MSI-X vector; addr/data/masked: the
 *   slot as the guest reads it back (ims), or the vector's cached message
 *   and its MSI-X table mask bit (msix); count: interrupts taken on that irq
 *   (for msix, the shared vector's count); effective_affinity: a CPU list.
 *
 * msix (read): the header line
 *	vector irq count masked pending
 *   then one line per vector, e.g. "0 40 7 0 0". masked: the Mask bit of the
 *   vector's control word in the MSI-X table as the guest reads it (1/0);
 *   pending: the vector's bit in the Pending Bit Array as the guest reads it
 *   (1/0, or - when the PBA could not be mapped).
 *
 * hierarchy (read): one line per IMS interrupt of each logical function
 *   (lfunc<id>.<index>), then one per MSI-X irq:
 *	lfunc0.0 irq 45: irqlab-ims-0000:00:03.0(hwirq 0x0) > INTEL-IR-0-15(hwirq 0x5) > VECTOR(hwirq 0x2d)
 *	msix0 irq 40: IR-PCI-MSIX-0000:00:03.0-12(hwirq 0x0) > INTEL-IR-0-15(hwirq 0x4) > VECTOR(hwirq 0x28)
 *   each level's irq_domain name ("?" for a level without domain or name)
 *   and its hwirq, from the irq's top level down its parent_data chain, as
 *   /sys/kernel/debug/irq/irqs/<irq> shows them on kernels that have it.
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
 *	mask ims N | unmask ims N	disable_irq/enable_irq on interrupt 0 of
 *					queue N's lfunc (in mode ims)
 *	mask msix N | unmask msix N	disable_irq/enable_irq on vector N's irq
 *	hwmask ims N | hwunmask ims N	set/clear slot N's mask bit only (the irq
 *					stays enabled in the kernel)
 *	route Q ims|msix		interrupt 0 of queue Q's lfunc becomes an IMS
 *					slot from the allocator, or vector
 *					Q % msix_vectors (the old one is freed)
 *	busmaster 0|1			pci_clear_master / pci_set_master
 *	submit Q N			write N to queue Q's doorbell
 *	reset_counts			zero every queue, vector and lfunc count
 *	storm N				N posted writes to DOORBELL, then one read of
 *					DB_COUNT (result in "run")
 *	reads N				N reads of the ID register (result in "run")
 *	pingpong Q N			N times: doorbell of queue Q, wait for its
 *					interrupt (result in "run"; value = timeouts)
 *   mask/unmask do not nest: masking a masked irq is a no-op. A malformed
 *   command or an index out of range fails with EINVAL, a well-formed one
 *   the device cannot do (no IMS irq for that queue, no MSI-X) with ENODEV;
 *   both log a warning naming the command. Logical functions are created
 *   and destroyed in sysfs, not here (irqlab_lfunc_sysfs.c).
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

static bool is_sysmem(struct irqlab_dev *idev)
{
	return idev->ims && ims_chip_storage(idev->ims) == IMS_STORAGE_SYSTEM;
}

static unsigned int lfunc_count(struct irqlab_dev *idev)
{
	unsigned int id, n = 0;

	for (id = 0; id < idev->nr_queues; id++)
		n += !!idev->lfuncs[id];
	return n;
}

static void print_msg(struct seq_file *m, const struct msi_msg *msg)
{
	seq_printf(m, "0x%016llx 0x%08x", (u64)msg->address_hi << 32 | msg->address_lo, msg->data);
}

static int info_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;

	mutex_lock(&idev->lock);
	seq_printf(m, "mode %s\n", is_sysmem(idev) ? "sysmem" : "devmem");
	seq_printf(m, "queues %u\n", idev->nr_queues);
	seq_printf(m, "ims_slots %u\n", idev->ims_slots);
	seq_printf(m, "msix_vectors %u\n", idev->nr_vectors);
	seq_printf(m, "parent_domain %s\n", idev->ims ? ims_chip_parent_name(idev->ims) : "none");
	seq_printf(m, "ims_domain %s\n", idev->ims ? ims_chip_domain_name(idev->ims) : "none");
	seq_printf(m, "ims_bar %u\n", idev->ims_bar_nr);
	seq_printf(m, "ims_offset 0x%08x\n", idev->ims_offset);
	seq_printf(m, "version 0x%08x\n", idev->version);
	seq_printf(m, "busmaster %d\n", idev->busmaster);
	seq_printf(m, "route_default %s\n", irqlab_route_name(irqlab_default_route()));
	seq_printf(m, "lfuncs %u\n", lfunc_count(idev));
	seq_printf(m, "ims_slots_live %u\n", idev->ims ? ims_chip_slots_in_use(idev->ims) : 0);
	seq_printf(m, "unflushed_mask %d\n", irqlab_unflushed_mask());
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(info);

static int queues_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int q;

	mutex_lock(&idev->lock);
	seq_puts(m, "queue irq route index addr data count lfunc\n");
	for (q = 0; q < idev->nr_queues; q++) {
		struct irqlab_queue *queue = &idev->queues[q];
		enum irqlab_route r = READ_ONCE(queue->route);
		unsigned int index = READ_ONCE(queue->route_index);
		struct irqlab_lfunc *lf = queue->lfunc;
		struct ims_slot_state st = { };
		unsigned int irq = 0;

		if (r == IRQLAB_ROUTE_IMS) {
			irq = lf ? irqlab_lfunc_virq(lf, 0) : 0;
			irqlab_ims_read_slot(idev, index, &st);
		} else if (r == IRQLAB_ROUTE_MSIX && index < idev->nr_vectors) {
			irq = idev->vectors[index].irq;
			get_cached_msi_msg(irq, &st.msg);
		}
		seq_printf(m, "%u %u %s %u ", q, irq, irqlab_route_name(r), index);
		print_msg(m, &st.msg);
		seq_printf(m, " %lld ", (long long)atomic64_read(&queue->count));
		if (lf)
			seq_printf(m, "%u\n", lf->id);
		else
			seq_puts(m, "-\n");
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

static void lfunc_irq_line(struct seq_file *m, struct irqlab_dev *idev, struct irqlab_lfunc_irq *li)
{
	struct irq_data *d = irq_get_irq_data(li->virq);
	struct ims_slot_state st = { };
	long long count;

	if (li->mode == IRQLAB_ROUTE_IMS) {
		irqlab_ims_read_slot(idev, li->hwirq, &st);
		count = atomic64_read(&li->count);
	} else {
		get_cached_msi_msg(li->virq, &st.msg);
		st.masked = msix_masked(idev, &idev->vectors[li->hwirq]);
		count = atomic64_read(&idev->vectors[li->hwirq].count);
	}
	seq_printf(m, "%u %u %u %u %s %u ", li->lf->id, li->lf->queue, li->index, li->virq,
		   irqlab_route_name(li->mode), li->hwirq);
	print_msg(m, &st.msg);
	seq_printf(m, " %d %lld %*pbl\n", st.masked, count,
		   cpumask_pr_args(irq_data_get_effective_affinity_mask(d)));
}

static int lfuncs_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int id, i;

	mutex_lock(&idev->lock);
	seq_puts(m, "lfunc queue index irq mode hwirq addr data masked count effective_affinity\n");
	for (id = 0; id < idev->nr_queues; id++) {
		struct irqlab_lfunc *lf = idev->lfuncs[id];

		for (i = 0; lf && i < lf->nr_irqs; i++)
			lfunc_irq_line(m, idev, lf->irqs[i]);
	}
	mutex_unlock(&idev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(lfuncs);

static void show_chain(struct seq_file *m, unsigned int irq)
{
	struct irq_data *d = irq_get_irq_data(irq);
	const char *sep = "";

	seq_printf(m, " irq %u:", irq);
	for (; d; d = d->parent_data) {
		seq_printf(m, "%s %s(hwirq 0x%lx)", sep,
			   d->domain && d->domain->name ? d->domain->name : "?", d->hwirq);
		sep = " >";
	}
	seq_putc(m, '\n');
}

static int hierarchy_show(struct seq_file *m, void *unused)
{
	struct irqlab_dev *idev = m->private;
	unsigned int id, i;

	mutex_lock(&idev->lock);
	for (id = 0; id < idev->nr_queues; id++) {
		struct irqlab_lfunc *lf = idev->lfuncs[id];

		for (i = 0; lf && i < lf->nr_irqs; i++) {
			if (lf->irqs[i]->mode != IRQLAB_ROUTE_IMS)
				continue;
			seq_printf(m, "lfunc%u.%u", id, i);
			show_chain(m, irqlab_lfunc_virq(lf, i));
		}
	}
	for (i = 0; i < idev->nr_vectors; i++) {
		seq_printf(m, "msix%u", i);
		show_chain(m, idev->vectors[i].irq);
	}
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
	debugfs_create_file("lfuncs", 0444, dir, idev, &lfuncs_fops);
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
