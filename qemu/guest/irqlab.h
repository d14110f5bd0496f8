/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irqlab guest driver: shared state of the PCI driver (irqlab_main.c), its
 * MSI-X vectors (irqlab_msix.c), its IMS chip (irqlab_ims.c, over the
 * ims_irqchip library), the logical functions (irqlab_lfunc.c, shown in sysfs
 * by irqlab_lfunc_sysfs.c, created and destroyed through irqlab_lfunc_ctl.c)
 * and the debugfs interface (irqlab_debugfs.c, irqlab_ctl.c).
 *
 * A logical function ("lfunc") is a container of resources: one work queue of
 * the device plus its interrupts. Interrupt 0 carries the queue's completions
 * (an IMS slot of its own, or the MSI-X vector queue % vectors); interrupts
 * 1.. are further IMS slots. Slots come from the IMS chip's allocator when the
 * lfunc is created and go back when it is destroyed.
 */
#ifndef IRQLAB_H
#define IRQLAB_H

#include <linux/atomic.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/kobject.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/types.h>

#include "irqlab_hw.h"
#include "ims_irqchip.h"

#define IRQLAB_DRV_NAME		"irqlab"
#define IRQLAB_IRQ_NAME_LEN	24
#define IRQLAB_LFUNC_MAX_IRQS	4

enum irqlab_route {
	IRQLAB_ROUTE_NONE,	/* interrupts of this queue are off */
	IRQLAB_ROUTE_MSIX,
	IRQLAB_ROUTE_IMS,
};

struct irqlab_dev;
struct irqlab_lfunc;

/* One interrupt of a logical function. */
struct irqlab_lfunc_irq {
	struct irqlab_lfunc	*lf;
	unsigned int		index;
	enum irqlab_route	mode;		/* IRQLAB_ROUTE_IMS or IRQLAB_ROUTE_MSIX */
	unsigned int		hwirq;		/* IMS slot, or MSI-X vector */
	unsigned int		virq;		/* Linux irq */
	bool			requested;	/* IMS: request_irq() done here */
	bool			disabled;	/* disable_irq() done by "mask ims" */
	atomic64_t		count;		/* IMS: interrupts its handler took */
	/* The queue's count for interrupt 0, else NULL (the handler adds to it). */
	atomic64_t		*queue_count;
	char			name[IRQLAB_IRQ_NAME_LEN];
	struct kobject		*kobj;		/* lfunc/<id>/irqs/<virq>/ */
};

struct irqlab_lfunc {
	struct kobject		kobj;		/* lfunc/<id>/; its release frees this */
	struct irqlab_dev	*idev;
	unsigned int		id;
	unsigned int		queue;
	unsigned int		nr_irqs;
	struct irqlab_lfunc_irq	*irqs[IRQLAB_LFUNC_MAX_IRQS];
	struct kobject		*irqs_dir;	/* lfunc/<id>/irqs/ */
};

/* What to create: see "create" in irqlab_lfunc_sysfs.c. */
struct irqlab_lfunc_spec {
	unsigned int		queue;
	unsigned int		nr_irqs;
	enum irqlab_route	mode;		/* of interrupt 0 */
	int			slot;		/* of interrupt 0 in IMS mode, or IMS_SLOT_ANY */
};

struct irqlab_queue {
	struct irqlab_lfunc	*lfunc;		/* NULL: none; under idev->lock */
	/* As written to the queue's IRQ register. Read in the MSI-X handler: READ_ONCE */
	enum irqlab_route	route;
	unsigned int		route_index;
	atomic64_t		count;
};

struct irqlab_vector {
	struct irqlab_dev	*idev;
	unsigned int		index;
	unsigned int		irq;
	bool			requested;
	bool			disabled;	/* disable_irq() done by "mask msix" */
	atomic64_t		count;
	char			name[IRQLAB_IRQ_NAME_LEN];
};

/* Result of the last MMIO loop run through ctl (storm, reads). */
struct irqlab_run {
	const char		*op;
	u32			n;
	u32			value;		/* DB_COUNT after a storm; ID for reads */
	u64			loop_ns;	/* the loop of writes or reads */
	u64			read_ns;	/* storm: the read after the writes */
};

struct irqlab_dev {
	struct pci_dev		*pdev;
	void __iomem		*regs;		/* BAR0 */
	void __iomem		*ims_bar;	/* BAR holding the IMS table */
	void __iomem		*ims_table;	/* ims_bar + IMS_OFFSET */
	unsigned int		ims_bar_nr;
	u32			version;
	u32			ims_cap;
	u32			ims_offset;

	unsigned int		nr_queues;
	struct irqlab_queue	*queues;

	unsigned int		nr_vectors;
	struct irqlab_vector	*vectors;
	bool			msix_enabled;
	void __iomem		*msix_pba;	/* Pending Bit Array, read by debugfs */

	unsigned int		ims_slots;	/* in the device's table; 0: no IMS */
	struct ims_chip		*ims;		/* NULL: no IMS */

	/* Logical functions by id (ids < nr_queues: one lfunc per queue at most) */
	struct irqlab_lfunc	**lfuncs;
	struct ida		lfunc_ida;
	struct kobject		*lfunc_dir;	/* /sys/bus/pci/devices/<bdf>/lfunc/ */

	bool			busmaster;
	struct irqlab_run	last_run;
	/* lfunc create/destroy, ctl commands, debugfs reads */
	struct mutex		lock;
	struct dentry		*debugfs_dir;
};

/* irqlab_main.c */
const char *irqlab_route_name(enum irqlab_route route);
enum irqlab_route irqlab_default_route(void);
bool irqlab_unflushed_mask(void);
void irqlab_queue_route(struct irqlab_dev *idev, unsigned int q, enum irqlab_route route,
			unsigned int index);
void irqlab_set_busmaster(struct irqlab_dev *idev, bool on);
int irqlab_submit(struct irqlab_dev *idev, unsigned int q, u32 n);
void irqlab_reset_counts(struct irqlab_dev *idev);

/* irqlab_msix.c */
int irqlab_setup_msix(struct irqlab_dev *idev);
void irqlab_free_msix(struct irqlab_dev *idev);
int irqlab_mask_msix(struct irqlab_dev *idev, unsigned int v, bool mask);

/* irqlab_ims.c: the device's IMS chip, over ims_irqchip */
int irqlab_ims_setup(struct irqlab_dev *idev, bool sysmem);
void irqlab_ims_teardown(struct irqlab_dev *idev);
int irqlab_ims_hwmask(struct irqlab_dev *idev, unsigned int slot, bool masked);
void irqlab_ims_read_slot(struct irqlab_dev *idev, unsigned int slot, struct ims_slot_state *st);

/* irqlab_lfunc.c; idev->lock held for all of these */
int irqlab_lfunc_create(struct irqlab_dev *idev, const struct irqlab_lfunc_spec *spec);
void irqlab_lfunc_destroy(struct irqlab_lfunc *lf);
void irqlab_lfunc_destroy_all(struct irqlab_dev *idev);
int irqlab_lfunc_virq(const struct irqlab_lfunc *lf, unsigned int index);
int irqlab_lfunc_set_mode(struct irqlab_lfunc *lf, enum irqlab_route mode);
int irqlab_lfunc_mask(struct irqlab_dev *idev, unsigned int q, bool mask);
void irqlab_lfuncs_at_probe(struct irqlab_dev *idev);

/* irqlab_lfunc_ctl.c: the lfunc/ directory, create and destroy */
int irqlab_lfunc_sysfs_init(struct irqlab_dev *idev);
void irqlab_lfunc_sysfs_stop(struct irqlab_dev *idev);
void irqlab_lfunc_sysfs_exit(struct irqlab_dev *idev);

/* irqlab_lfunc_sysfs.c: each lfunc's and each of its interrupts' objects */
int irqlab_lfunc_sysfs_add(struct irqlab_lfunc *lf);
void irqlab_lfunc_sysfs_del(struct irqlab_lfunc *lf);
int irqlab_lfunc_sysfs_add_irq(struct irqlab_lfunc_irq *li);
void irqlab_lfunc_sysfs_del_irq(struct irqlab_lfunc_irq *li);

/*
 * disable_irq()/enable_irq() nest; the ctl interface does not: a second
 * "mask" of a masked interrupt is a no-op, so depth never exceeds one and
 * teardown can undo it. @disabled tracks what ctl did to @irq.
 */
static inline void irqlab_ctl_mask(unsigned int irq, bool *disabled, bool mask)
{
	if (*disabled == mask)
		return;
	if (mask)
		disable_irq(irq);
	else
		enable_irq(irq);
	*disabled = mask;
}

/*
 * request_irq(), then mask in hardware at disable_irq() time instead of
 * lazily on the next interrupt: the tests observe the masking itself.
 * free_irq() clears the flag, so it is set after request_irq().
 */
static inline int irqlab_request_irq(unsigned int irq, irq_handler_t handler, const char *name,
				     void *dev)
{
	int ret = request_irq(irq, handler, 0, name, dev);

	if (!ret)
		irq_set_status_flags(irq, IRQ_DISABLE_UNLAZY);
	return ret;
}

/* irqlab_bench.c */
int irqlab_storm(struct irqlab_dev *idev, u32 n);
int irqlab_mmio_reads(struct irqlab_dev *idev, u32 n);
int irqlab_pingpong(struct irqlab_dev *idev, unsigned int q, u32 n);

/* irqlab_debugfs.c */
void irqlab_debugfs_init(void);
void irqlab_debugfs_exit(void);
void irqlab_debugfs_add(struct irqlab_dev *idev);
void irqlab_debugfs_remove(struct irqlab_dev *idev);

/* irqlab_ctl.c: the debugfs file "ctl" */
extern const struct file_operations irqlab_ctl_fops;

#endif /* IRQLAB_H */
