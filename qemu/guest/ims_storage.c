// SPDX-License-Identifier: GPL-2.0
/*
 * ims_irqchip storage back ends: where the slots live and how a write to one
 * is made visible to the device.
 *
 * Device memory: the slot array in a BAR. Writes are posted; a read from the
 * device returns only after every earlier write to it has landed (PCI
 * ordering), so reading the slot back is the flush.
 *
 * System memory: a coherent table the device reads by DMA each time it fires
 * a slot. The device cannot see a store to it, so an unmask is announced
 * through the driver's notify_unmask(), a discard through notify_discard().
 */
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/string.h>

#include "ims_private.h"

#define IMS_WORD(off)	((off) / sizeof(u32))

/* ---- device memory ---------------------------------------------------- */

static void __iomem *dev_slot(struct ims_chip *ims, unsigned int slot)
{
	return ims->cfg.table + slot * IMS_SLOT_SIZE;
}

static int dev_init(struct ims_chip *ims)
{
	return ims->cfg.table ? 0 : -EINVAL;
}

static void dev_release(struct ims_chip *ims)
{
}

static void dev_write_msg(struct ims_chip *ims, unsigned int slot, const struct msi_msg *msg)
{
	void __iomem *s = dev_slot(ims, slot);

	writel(msg->address_lo, s + IMS_SLOT_ADDR_LO);
	writel(msg->address_hi, s + IMS_SLOT_ADDR_HI);
	writel(msg->data, s + IMS_SLOT_DATA);
}

static void dev_write_ctrl(struct ims_chip *ims, unsigned int slot, bool masked)
{
	writel(masked ? IMS_SLOT_CTRL_MASK : 0, dev_slot(ims, slot) + IMS_SLOT_CTRL);
}

/* The pending bit is W1C: masked, and what the slot held is dropped, in one write. */
static void dev_discard(struct ims_chip *ims, unsigned int slot)
{
	writel(IMS_SLOT_CTRL_MASK | IMS_SLOT_CTRL_PENDING, dev_slot(ims, slot) + IMS_SLOT_CTRL);
}

static void dev_flush(struct ims_chip *ims, unsigned int slot)
{
	/* A posted write is not done until a read from the device returns. */
	readl(dev_slot(ims, slot) + IMS_SLOT_CTRL);
}

static void dev_read(struct ims_chip *ims, unsigned int slot, struct ims_slot_state *st)
{
	void __iomem *s = dev_slot(ims, slot);

	st->msg.address_lo = readl(s + IMS_SLOT_ADDR_LO);
	st->msg.address_hi = readl(s + IMS_SLOT_ADDR_HI);
	st->msg.data = readl(s + IMS_SLOT_DATA);
	st->masked = readl(s + IMS_SLOT_CTRL) & IMS_SLOT_CTRL_MASK;
}

const struct ims_storage_ops ims_device_storage_ops = {
	.init		= dev_init,
	.release	= dev_release,
	.write_msg	= dev_write_msg,
	.write_ctrl	= dev_write_ctrl,
	.discard	= dev_discard,
	.flush		= dev_flush,
	.read		= dev_read,
};

/* ---- system memory ---------------------------------------------------- */

static __le32 *sys_slot(struct ims_chip *ims, unsigned int slot)
{
	return ims->sys + slot * IMS_WORD(IMS_SLOT_SIZE);
}

static int sys_init(struct ims_chip *ims)
{
	struct device *dev = &ims->cfg.pdev->dev;

	if (!ims->cfg.notify_unmask)
		return -EINVAL;
	ims->sys_size = ims->cfg.nr_slots * IMS_SLOT_SIZE;
	ims->sys = dma_alloc_coherent(dev, ims->sys_size, &ims->sys_dma, GFP_KERNEL);
	return ims->sys ? 0 : -ENOMEM;
}

static void sys_release(struct ims_chip *ims)
{
	dma_free_coherent(&ims->cfg.pdev->dev, ims->sys_size, ims->sys, ims->sys_dma);
	ims->sys = NULL;
}

static void sys_write_msg(struct ims_chip *ims, unsigned int slot, const struct msi_msg *msg)
{
	__le32 *s = sys_slot(ims, slot);

	/* The device reads the whole slot at once: the mask store goes first. */
	dma_wmb();
	WRITE_ONCE(s[IMS_WORD(IMS_SLOT_ADDR_LO)], cpu_to_le32(msg->address_lo));
	WRITE_ONCE(s[IMS_WORD(IMS_SLOT_ADDR_HI)], cpu_to_le32(msg->address_hi));
	WRITE_ONCE(s[IMS_WORD(IMS_SLOT_DATA)], cpu_to_le32(msg->data));
}

static void sys_write_ctrl(struct ims_chip *ims, unsigned int slot, bool masked)
{
	/* Address and data land before an unmask makes them usable. */
	dma_wmb();
	WRITE_ONCE(sys_slot(ims, slot)[IMS_WORD(IMS_SLOT_CTRL)],
		   cpu_to_le32(masked ? IMS_SLOT_CTRL_MASK : 0));
	/* writel() in the notifier is ordered after the store above. */
	if (!masked)
		ims->cfg.notify_unmask(ims->cfg.ctx, slot);
}

static void sys_discard(struct ims_chip *ims, unsigned int slot)
{
	sys_write_ctrl(ims, slot, true);
	if (ims->cfg.notify_discard)
		ims->cfg.notify_discard(ims->cfg.ctx, slot);
}

/*
 * Coherent stores are seen by the device's next read of the slot, and the
 * notifiers flush their own MMIO writes: there is no write of ours in flight
 * to wait for. (A message whose slot the device read before a mask store is
 * an interrupt already on its way, as for MSI-X.)
 */
static void sys_flush(struct ims_chip *ims, unsigned int slot)
{
}

static void sys_read(struct ims_chip *ims, unsigned int slot, struct ims_slot_state *st)
{
	__le32 *s = sys_slot(ims, slot);

	st->msg.address_lo = le32_to_cpu(READ_ONCE(s[IMS_WORD(IMS_SLOT_ADDR_LO)]));
	st->msg.address_hi = le32_to_cpu(READ_ONCE(s[IMS_WORD(IMS_SLOT_ADDR_HI)]));
	st->msg.data = le32_to_cpu(READ_ONCE(s[IMS_WORD(IMS_SLOT_DATA)]));
	st->masked = le32_to_cpu(READ_ONCE(s[IMS_WORD(IMS_SLOT_CTRL)])) & IMS_SLOT_CTRL_MASK;
}

const struct ims_storage_ops ims_system_storage_ops = {
	.init		= sys_init,
	.release	= sys_release,
	.write_msg	= sys_write_msg,
	.write_ctrl	= sys_write_ctrl,
	.discard	= sys_discard,
	.flush		= sys_flush,
	.read		= sys_read,
};
