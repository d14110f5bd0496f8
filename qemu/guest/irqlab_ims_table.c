// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab IMS table: access to the device's IMS slots, for the irq domain
 * (irqlab_ims.c) and debugfs.
 *
 * A slot is 16 bytes (addr_lo, addr_hi, data, ctrl; see irqlab_hw.h). The
 * table lives in the IMS BAR, or with ims_sysmem=1 in a coherent buffer the
 * device reads by DMA when a slot fires; the device cannot see that buffer
 * change, so unmasking a system-memory slot rings IRQLAB_REG_IMS_UNMASK.
 */
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/msi.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "irqlab.h"

#define IMS_WORD(reg)	((reg) / sizeof(u32))

static void __iomem *ims_slot_io(struct irqlab_dev *idev, unsigned int slot)
{
	return idev->ims_table + slot * IRQLAB_IMS_SLOT_SIZE;
}

static __le32 *ims_slot_sys(struct irqlab_dev *idev, unsigned int slot)
{
	return idev->ims_sys + slot * IMS_WORD(IRQLAB_IMS_SLOT_SIZE);
}

void irqlab_ims_write_ctrl(struct irqlab_dev *idev, unsigned int slot, bool masked)
{
	u32 ctrl = masked ? IRQLAB_IMS_CTRL_MASK : 0;

	if (!idev->ims_sysmem) {
		writel(ctrl, ims_slot_io(idev, slot) + IRQLAB_IMS_CTRL);
		return;
	}

	/* The device DMA-reads the whole slot: address/data land before ctrl. */
	dma_wmb();
	WRITE_ONCE(ims_slot_sys(idev, slot)[IMS_WORD(IRQLAB_IMS_CTRL)], cpu_to_le32(ctrl));
	/*
	 * The device cannot see the memory write: tell it to re-read the slot
	 * (and deliver what became pending while masked). writel() is ordered
	 * after the coherent-memory store above.
	 */
	if (!masked)
		writel(slot, idev->regs + IRQLAB_REG_IMS_UNMASK);
}

/*
 * Sets a slot's mask bit behind the irq core's back (the "hwmask" ctl
 * command): the kernel still thinks the irq is enabled, so an interrupt the
 * device sends anyway (a fault) reaches the handler and is counted.
 */
int irqlab_ims_hwmask(struct irqlab_dev *idev, unsigned int slot, bool masked)
{
	if (slot >= idev->ims_slots)
		return -EINVAL;
	irqlab_ims_write_ctrl(idev, slot, masked);
	return 0;
}

void irqlab_ims_write_msg(struct irqlab_dev *idev, unsigned int slot, const struct msi_msg *msg)
{
	if (idev->ims_sysmem) {
		__le32 *s = ims_slot_sys(idev, slot);

		WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_ADDR_LO)], cpu_to_le32(msg->address_lo));
		WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_ADDR_HI)], cpu_to_le32(msg->address_hi));
		WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_DATA)], cpu_to_le32(msg->data));
	} else {
		void __iomem *s = ims_slot_io(idev, slot);

		writel(msg->address_lo, s + IRQLAB_IMS_ADDR_LO);
		writel(msg->address_hi, s + IRQLAB_IMS_ADDR_HI);
		writel(msg->data, s + IRQLAB_IMS_DATA);
	}
	idev->ims_msg[slot] = *msg;
}

/* Reset state of a slot. Masked first, so the device never fires it half-cleared. */
static void ims_io_clear(struct irqlab_dev *idev, unsigned int slot)
{
	void __iomem *s = ims_slot_io(idev, slot);

	writel(IRQLAB_IMS_CTRL_MASK, s + IRQLAB_IMS_CTRL);
	writel(0, s + IRQLAB_IMS_ADDR_LO);
	writel(0, s + IRQLAB_IMS_ADDR_HI);
	writel(0, s + IRQLAB_IMS_DATA);
}

static void ims_sys_clear(struct irqlab_dev *idev, unsigned int slot)
{
	__le32 *s = ims_slot_sys(idev, slot);

	WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_CTRL)], cpu_to_le32(IRQLAB_IMS_CTRL_MASK));
	dma_wmb();
	WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_ADDR_LO)], 0);
	WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_ADDR_HI)], 0);
	WRITE_ONCE(s[IMS_WORD(IRQLAB_IMS_DATA)], 0);
}

void irqlab_ims_clear_slot(struct irqlab_dev *idev, unsigned int slot)
{
	if (idev->ims_sysmem)
		ims_sys_clear(idev, slot);
	else
		ims_io_clear(idev, slot);
	memset(&idev->ims_msg[slot], 0, sizeof(idev->ims_msg[slot]));
}

void irqlab_ims_read_slot(struct irqlab_dev *idev, unsigned int slot, struct msi_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	if (slot >= idev->ims_slots)
		return;
	if (idev->ims_sysmem) {
		__le32 *s = ims_slot_sys(idev, slot);

		msg->address_lo = le32_to_cpu(READ_ONCE(s[IMS_WORD(IRQLAB_IMS_ADDR_LO)]));
		msg->address_hi = le32_to_cpu(READ_ONCE(s[IMS_WORD(IRQLAB_IMS_ADDR_HI)]));
		msg->data = le32_to_cpu(READ_ONCE(s[IMS_WORD(IRQLAB_IMS_DATA)]));
	} else {
		void __iomem *s = ims_slot_io(idev, slot);

		msg->address_lo = readl(s + IRQLAB_IMS_ADDR_LO);
		msg->address_hi = readl(s + IRQLAB_IMS_ADDR_HI);
		msg->data = readl(s + IRQLAB_IMS_DATA);
	}
}

/*
 * Put every slot in its reset state (cleared, masked), in the BAR and, for
 * the system-memory mode, in a new coherent table whose address the device
 * is given. Returns 0 or a negative errno; on failure of the system-memory
 * set-up the device-memory table is still usable.
 */
int irqlab_ims_init_table(struct irqlab_dev *idev, bool sysmem)
{
	struct device *dev = &idev->pdev->dev;
	unsigned int slot;

	idev->ims_msg = kcalloc(idev->ims_slots, sizeof(*idev->ims_msg), GFP_KERNEL);
	if (!idev->ims_msg)
		return -ENOMEM;

	for (slot = 0; slot < idev->ims_slots; slot++)
		ims_io_clear(idev, slot);
	if (!sysmem)
		return 0;

	if (dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)) &&
	    dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32)))
		return -EIO;
	idev->ims_sys_size = idev->ims_slots * IRQLAB_IMS_SLOT_SIZE;
	idev->ims_sys = dma_alloc_coherent(dev, idev->ims_sys_size, &idev->ims_sys_dma,
					   GFP_KERNEL);
	if (!idev->ims_sys)
		return -ENOMEM;
	for (slot = 0; slot < idev->ims_slots; slot++)
		ims_sys_clear(idev, slot);

	/* writel() orders the table stores above before the device learns of it. */
	writel(lower_32_bits(idev->ims_sys_dma), idev->regs + IRQLAB_REG_IMS_BASE_LO);
	writel(upper_32_bits(idev->ims_sys_dma), idev->regs + IRQLAB_REG_IMS_BASE_HI);
	writel(IRQLAB_CTRL_IMS_SYSMEM, idev->regs + IRQLAB_REG_CTRL);
	idev->ims_sysmem = true;
	return 0;
}

/*
 * Every slot cleared and masked, in both tables when there are two, so the
 * device sees every slot cleared whichever it looks at. No IMS interrupt may
 * be allocated any more.
 */
void irqlab_ims_clear_all_slots(struct irqlab_dev *idev)
{
	unsigned int slot;

	if (!idev->ims_msg)
		return;
	for (slot = 0; slot < idev->ims_slots; slot++) {
		if (idev->ims_sys)
			ims_sys_clear(idev, slot);
		ims_io_clear(idev, slot);
		memset(&idev->ims_msg[slot], 0, sizeof(idev->ims_msg[slot]));
	}
}

/*
 * Leave system-memory mode before the buffer goes away, so the device no
 * longer reads it. Call after every IMS interrupt is freed.
 */
void irqlab_ims_release_table(struct irqlab_dev *idev)
{
	if (idev->ims_sys) {
		writel(0, idev->regs + IRQLAB_REG_CTRL);
		writel(0, idev->regs + IRQLAB_REG_IMS_BASE_LO);
		writel(0, idev->regs + IRQLAB_REG_IMS_BASE_HI);
		/* A read flushes the posted writes before the memory is freed. */
		readl(idev->regs + IRQLAB_REG_CTRL);
		idev->ims_sysmem = false;
		dma_free_coherent(&idev->pdev->dev, idev->ims_sys_size, idev->ims_sys,
				  idev->ims_sys_dma);
		idev->ims_sys = NULL;
	}
	kfree(idev->ims_msg);
	idev->ims_msg = NULL;
}
