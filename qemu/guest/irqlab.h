/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irqlab guest driver: shared state of the PCI driver (irqlab_main.c), its
 * MSI-X vectors (irqlab_msix.c) and the queues' IMS interrupts
 * (irqlab_ims_queue.c), the IMS table (irqlab_ims_table.c) and irq domain
 * (irqlab_ims.c), and the debugfs interface (irqlab_debugfs.c, irqlab_ctl.c).
 */
#ifndef IRQLAB_H
#define IRQLAB_H

#include <linux/atomic.h>
#include <linux/interrupt.h>
#include <linux/irqdomain.h>
#include <linux/msi.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/types.h>

#include "irqlab_hw.h"

#define IRQLAB_DRV_NAME		"irqlab"
#define IRQLAB_IRQ_NAME_LEN	24

enum irqlab_route {
	IRQLAB_ROUTE_NONE,	/* interrupts of this queue are off */
	IRQLAB_ROUTE_MSIX,
	IRQLAB_ROUTE_IMS,
};

struct irqlab_dev;

struct irqlab_queue {
	struct irqlab_dev	*idev;
	unsigned int		index;
	/* IMS interrupt of this queue (slot == index); 0 when there is none */
	unsigned int		ims_irq;
	bool			ims_requested;
	bool			ims_disabled;	/* disable_irq() done by "mask ims" */
	/* Read in the MSI-X handler without the lock: READ_ONCE/WRITE_ONCE */
	enum irqlab_route	route;
	unsigned int		route_index;
	atomic64_t		count;
	char			ims_name[IRQLAB_IRQ_NAME_LEN];
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

	/* IMS */
	unsigned int		ims_slots;
	bool			ims_sysmem;	/* table in system memory */
	__le32			*ims_sys;	/* system-memory table (coherent) */
	dma_addr_t		ims_sys_dma;
	size_t			ims_sys_size;
	struct msi_msg		*ims_msg;	/* message last written per slot */
	struct irq_domain	*ims_parent;
	struct irq_domain	*ims_domain;
	struct fwnode_handle	*ims_fwnode;
	/*
	 * Stand-in MSI descriptor handed to the parent domain on allocation:
	 * the remapping domain takes the requester id from desc->dev (see
	 * irqlab_ims.c).
	 */
	struct msi_desc		ims_msi_desc;

	bool			busmaster;
	struct irqlab_run	last_run;
	struct mutex		lock;		/* ctl commands and debugfs reads */
	struct dentry		*debugfs_dir;
};

/* irqlab_main.c */
const char *irqlab_route_name(enum irqlab_route route);
enum irqlab_route irqlab_default_route(void);
int irqlab_set_route(struct irqlab_dev *idev, unsigned int q, enum irqlab_route route);
void irqlab_set_busmaster(struct irqlab_dev *idev, bool on);
int irqlab_submit(struct irqlab_dev *idev, unsigned int q, u32 n);
void irqlab_reset_counts(struct irqlab_dev *idev);

/* irqlab_msix.c */
int irqlab_setup_msix(struct irqlab_dev *idev);
void irqlab_free_msix(struct irqlab_dev *idev);
int irqlab_mask_msix(struct irqlab_dev *idev, unsigned int v, bool mask);

/* irqlab_ims_queue.c */
int irqlab_setup_ims(struct irqlab_dev *idev, bool sysmem);
void irqlab_free_ims(struct irqlab_dev *idev);
int irqlab_mask_ims(struct irqlab_dev *idev, unsigned int q, bool mask);

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

/* irqlab_bench.c */
int irqlab_storm(struct irqlab_dev *idev, u32 n);
int irqlab_mmio_reads(struct irqlab_dev *idev, u32 n);
int irqlab_pingpong(struct irqlab_dev *idev, unsigned int q, u32 n);

/* irqlab_ims_table.c */
int irqlab_ims_init_table(struct irqlab_dev *idev, bool sysmem);
void irqlab_ims_clear_all_slots(struct irqlab_dev *idev);
void irqlab_ims_release_table(struct irqlab_dev *idev);
void irqlab_ims_write_ctrl(struct irqlab_dev *idev, unsigned int slot, bool masked);
void irqlab_ims_write_msg(struct irqlab_dev *idev, unsigned int slot, const struct msi_msg *msg);
void irqlab_ims_clear_slot(struct irqlab_dev *idev, unsigned int slot);
int irqlab_ims_hwmask(struct irqlab_dev *idev, unsigned int slot, bool masked);
void irqlab_ims_read_slot(struct irqlab_dev *idev, unsigned int slot, struct msi_msg *msg);

/* irqlab_ims.c */
int irqlab_ims_create_domain(struct irqlab_dev *idev);
void irqlab_ims_remove_domain(struct irqlab_dev *idev);
int irqlab_ims_alloc_irq(struct irqlab_dev *idev, unsigned int slot);
void irqlab_ims_free_irq(unsigned int irq);

/* irqlab_debugfs.c */
void irqlab_debugfs_init(void);
void irqlab_debugfs_exit(void);
void irqlab_debugfs_add(struct irqlab_dev *idev);
void irqlab_debugfs_remove(struct irqlab_dev *idev);

/* irqlab_ctl.c: the debugfs file "ctl" */
extern const struct file_operations irqlab_ctl_fops;

#endif /* IRQLAB_H */
