/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ims_irqchip: a device-specific IMS irq domain and irqchip for a PCI device
 * whose interrupt messages live in a table of its own (the Interrupt Message
 * Store), with slots in the IDXD-style layout below. The table is in device
 * memory (a BAR) or in system memory that the device reads by DMA; the driver
 * chooses per device when it creates the chip. How to use it, and why a
 * driver on 6.12/7.x needs it at all: IMS.md beside this file.
 *
 * Calling context: everything here may sleep except ims_chip_hw_mask() and
 * ims_chip_read_slot(), which only need a mapped device.
 */
#ifndef IMS_IRQCHIP_H
#define IMS_IRQCHIP_H

#include <linux/bits.h>
#include <linux/msi.h>
#include <linux/pci.h>
#include <linux/types.h>

/*
 * One slot: 16 bytes, little endian. CTRL is written whole: the mask bit,
 * and the pending bit only when a freed slot's held interrupt is discarded.
 */
#define IMS_SLOT_SIZE		16
#define IMS_SLOT_ADDR_LO	0x0
#define IMS_SLOT_ADDR_HI	0x4
#define IMS_SLOT_DATA		0x8
#define IMS_SLOT_CTRL		0xc
#define IMS_SLOT_CTRL_MASK	BIT(0)
/* Reads as pending; writing 1 discards what the slot holds (W1C). */
#define IMS_SLOT_CTRL_PENDING	BIT(1)

enum ims_storage {
	/* The slot array sits in a BAR; software writes reach the device directly. */
	IMS_STORAGE_DEVICE,
	/*
	 * The table sits in system memory (allocated here, coherent); the device
	 * reads a slot by DMA when it fires, and is told of an unmask through
	 * ims_chip_config.notify_unmask since it cannot see memory writes.
	 */
	IMS_STORAGE_SYSTEM,
};

/* ims_chip_alloc_irq(): any free slot. */
#define IMS_SLOT_ANY		(-1)

struct ims_chip_config {
	/* The device that sends the messages (requester id, NUMA node, DMA). */
	struct pci_dev		*pdev;
	/* Domain name prefix; the domain is "<name>-<pci name>". */
	const char		*name;
	unsigned int		nr_slots;
	enum ims_storage	storage;
	/* IMS_STORAGE_DEVICE: slot 0, mapped; nr_slots * IMS_SLOT_SIZE bytes. */
	void __iomem		*table;
	/*
	 * IMS_STORAGE_SYSTEM: make the device re-read @slot (it was unmasked)
	 * and deliver what it holds pending, and flush that posted write before
	 * returning. Called with interrupts off, from the irqchip: no sleeping.
	 * The DMA mask of the device must be set before ims_chip_create().
	 */
	void			(*notify_unmask)(void *ctx, unsigned int slot);
	/*
	 * IMS_STORAGE_SYSTEM, optional: make the device discard an interrupt it
	 * holds for @slot, which is being freed, so the slot's next owner does
	 * not receive it, and flush that posted write before returning (the
	 * library counts the slot clean when this returns). Same context as
	 * notify_unmask.
	 */
	void			(*notify_discard)(void *ctx, unsigned int slot);
	void			*ctx;
	/*
	 * WRONG ON PURPOSE, for testing only: mask a device-memory slot with a
	 * plain posted write and no read-back, so an interrupt the device sends
	 * after the mask "was written" can still arrive. Leave it false.
	 */
	bool			unflushed_mask;
};

/* A slot as software reads it back from the storage. */
struct ims_slot_state {
	struct msi_msg		msg;
	bool			masked;
};

struct ims_chip;

/* Every slot cleared and masked; returns the chip or an ERR_PTR. */
struct ims_chip *ims_chip_create(const struct ims_chip_config *cfg);
/*
 * After every interrupt is freed. With system storage the device must no
 * longer read the table (the driver turned that off and flushed it).
 */
void ims_chip_destroy(struct ims_chip *ims);

/*
 * Allocates an interrupt on @slot, or on the lowest free slot for
 * IMS_SLOT_ANY. Returns the Linux irq number, -EBUSY when @slot is live,
 * -ENOSPC when no slot is free, -EINVAL for a slot out of range, or another
 * negative errno. The slot is written when the irq is started
 * (request_irq()) and cleared when it is shut down (free_irq()).
 */
int ims_chip_alloc_irq(struct ims_chip *ims, int slot);
/* After free_irq(); frees the slot for the next allocation. */
void ims_chip_free_irq(struct ims_chip *ims, unsigned int virq);

/* The slot behind an irq of this chip, or -EINVAL. */
int ims_chip_irq_slot(struct ims_chip *ims, unsigned int virq);
unsigned int ims_chip_slots(const struct ims_chip *ims);
unsigned int ims_chip_slots_in_use(struct ims_chip *ims);
enum ims_storage ims_chip_storage(const struct ims_chip *ims);
/* IMS_STORAGE_SYSTEM: the table's bus address, for the device. */
dma_addr_t ims_chip_table_dma(const struct ims_chip *ims);
const char *ims_chip_domain_name(const struct ims_chip *ims);
const char *ims_chip_parent_name(const struct ims_chip *ims);

void ims_chip_read_slot(struct ims_chip *ims, unsigned int slot, struct ims_slot_state *st);
/*
 * Sets or clears a slot's mask bit behind the irq core's back (for fault
 * tests: the kernel still thinks the irq is enabled). -EINVAL out of range.
 */
int ims_chip_hw_mask(struct ims_chip *ims, unsigned int slot, bool masked);

#endif /* IMS_IRQCHIP_H */
