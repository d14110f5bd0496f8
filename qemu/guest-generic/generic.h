/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irqlab_generic: a guest driver for any PCI function, bound by vendor:device
 * (module parameter ids=, or the driver's new_id in sysfs). It enables the
 * best interrupt mode the function offers (MSI-X, else MSI, else INTx) with
 * every vector it has, counts each vector's interrupts, and lets a person
 * read and write the function's BARs, all through debugfs:
 *
 *   /sys/kernel/debug/irqlab_generic/<bdf>/info   ids, mode, vectors, BARs
 *   /sys/kernel/debug/irqlab_generic/<bdf>/irqs   "vector irq count" per vector
 *   /sys/kernel/debug/irqlab_generic/<bdf>/poke   "BAR OFFSET WIDTH [VALUE]" (see generic_debugfs.c)
 *   /sys/kernel/debug/irqlab_generic/<bdf>/ctl    "unmask" (INTx), "reset" (counts)
 */
#ifndef IRQLAB_GENERIC_H
#define IRQLAB_GENERIC_H

#include <linux/atomic.h>
#include <linux/interrupt.h>
#include <linux/mutex.h>
#include <linux/pci.h>

#define GENERIC_DRV_NAME	"irqlab_generic"
#define GENERIC_NAME_LEN	48

enum generic_mode { GENERIC_NONE, GENERIC_INTX, GENERIC_MSI, GENERIC_MSIX };

struct generic_vector {
	struct generic_dev	*gdev;
	unsigned int		index;
	int			irq;
	atomic64_t		count;
	bool			requested;
	char			name[GENERIC_NAME_LEN];	/* request_irq keeps the pointer */
};

struct generic_dev {
	struct pci_dev		*pdev;
	enum generic_mode	mode;
	unsigned int		nr_vectors;
	struct generic_vector	*vectors;
	void __iomem		*bars[PCI_STD_NUM_BARS];
	struct dentry		*debugfs;
	/* The last access through the poke file, for reading it back. */
	struct mutex		poke_lock;
	char			poke_result[96];
};

const char *generic_mode_name(enum generic_mode mode);
void generic_reset_counts(struct generic_dev *gdev);
bool generic_unmask_intx(struct generic_dev *gdev);

void generic_debugfs_init(void);
void generic_debugfs_exit(void);
void generic_debugfs_add(struct generic_dev *gdev);
void generic_debugfs_remove(struct generic_dev *gdev);

#endif
