/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ims_irqchip internals, shared by the API (ims_irqchip.c), the hierarchy
 * level (ims_domain.c) and the two storage back ends (ims_storage.c). Drivers
 * use ims_irqchip.h only.
 */
#ifndef IMS_PRIVATE_H
#define IMS_PRIVATE_H

#include <linux/irqdomain.h>
#include <linux/msi.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

#include "ims_irqchip.h"

#ifndef CONFIG_X86
#error "ims_irqchip: allocation passes x86's struct irq_alloc_info to the parent domain"
#endif

struct ims_storage_ops {
	int	(*init)(struct ims_chip *ims);
	void	(*release)(struct ims_chip *ims);
	/* Address and data only; the caller keeps the slot masked meanwhile. */
	void	(*write_msg)(struct ims_chip *ims, unsigned int slot, const struct msi_msg *msg);
	void	(*write_ctrl)(struct ims_chip *ims, unsigned int slot, bool masked);
	/* Masks @slot and makes the device drop an interrupt it holds for it. */
	void	(*discard)(struct ims_chip *ims, unsigned int slot);
	/* Returns once the device has taken every write made to @slot so far. */
	void	(*flush)(struct ims_chip *ims, unsigned int slot);
	void	(*read)(struct ims_chip *ims, unsigned int slot, struct ims_slot_state *st);
};

struct ims_chip {
	struct ims_chip_config		cfg;
	const struct ims_storage_ops	*ops;

	/* IMS_STORAGE_SYSTEM: the table, coherent memory the device reads by DMA */
	__le32				*sys;
	dma_addr_t			sys_dma;
	size_t				sys_size;

	/*
	 * What software last wrote to each slot. Slot writes come from the
	 * irqchip (under the irq's descriptor lock) and from
	 * ims_chip_hw_mask() (not under it), hence a lock of our own.
	 */
	raw_spinlock_t			lock;
	struct ims_slot_state		*shadow;

	/* Slots with an irq allocated; set/cleared by the domain's alloc/free. */
	unsigned long			*live;
	/* Serializes choosing a free slot with allocating it. */
	struct mutex			alloc_lock;

	char				*name;		/* "<cfg.name>-<pci name>" */
	struct irq_domain		*parent;
	struct irq_domain		*domain;
	struct fwnode_handle		*fwnode;
	struct irq_chip			chip;
	/* Stand-in MSI descriptor for the remapping parent; see ims_irqchip.c. */
	struct msi_desc			msi_desc;
};

/* ims_domain.c */
void ims_slot_set_mask(struct ims_chip *ims, unsigned int slot, bool masked);
void ims_slots_clear(struct ims_chip *ims);
void ims_init_chip(struct ims_chip *ims);
int ims_create_domain(struct ims_chip *ims);

/* ims_storage.c */
extern const struct ims_storage_ops ims_device_storage_ops;
extern const struct ims_storage_ops ims_system_storage_ops;

#endif /* IMS_PRIVATE_H */
