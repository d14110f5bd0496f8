// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab guest driver: the device's IMS chip. Everything IMS goes through the
 * ims_irqchip library (ims_irqchip.h); this file only adds what is specific
 * to the irqlab device: where its slot array is, and for the system-memory
 * table the registers that give the device the table's address and tell it
 * of an unmask or a discard (irqlab_hw.h).
 */
#include <linux/build_bug.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>

#include "irqlab.h"

/* The device's slots are the layout the library drives. */
static_assert(IRQLAB_IMS_SLOT_SIZE == IMS_SLOT_SIZE);
static_assert(IRQLAB_IMS_ADDR_LO == IMS_SLOT_ADDR_LO && IRQLAB_IMS_ADDR_HI == IMS_SLOT_ADDR_HI);
static_assert(IRQLAB_IMS_DATA == IMS_SLOT_DATA && IRQLAB_IMS_CTRL == IMS_SLOT_CTRL);
static_assert(IRQLAB_IMS_CTRL_MASK == IMS_SLOT_CTRL_MASK && IRQLAB_IMS_CTRL_PENDING == IMS_SLOT_CTRL_PENDING);

/* Called by the library, from the irqchip (interrupts off). */
static void irqlab_ims_notify_unmask(void *ctx, unsigned int slot)
{
	struct irqlab_dev *idev = ctx;

	writel(slot, idev->regs + IRQLAB_REG_IMS_UNMASK);
	/* A posted write is not done until a read from the device returns. */
	readl(idev->regs + IRQLAB_REG_CTRL);
}

/* Called by the library when a slot is freed: the slot is clean once this returns. */
static void irqlab_ims_notify_discard(void *ctx, unsigned int slot)
{
	struct irqlab_dev *idev = ctx;

	writel(slot, idev->regs + IRQLAB_REG_IMS_DISCARD);
	/* Flushed like the unmask: the library's flush of a system-memory slot has no write of its own to wait for. */
	readl(idev->regs + IRQLAB_REG_CTRL);
}

static struct ims_chip *irqlab_ims_create_sysmem(struct irqlab_dev *idev,
						 struct ims_chip_config *cfg)
{
	struct device *dev = &idev->pdev->dev;
	struct ims_chip *ims;
	dma_addr_t table;
	int ret;

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32));
	if (ret)
		return ERR_PTR(ret);
	cfg->storage = IMS_STORAGE_SYSTEM;
	ims = ims_chip_create(cfg);
	if (IS_ERR(ims))
		return ims;

	/* writel() orders the table's initial stores before the device learns of it. */
	table = ims_chip_table_dma(ims);
	writel(lower_32_bits(table), idev->regs + IRQLAB_REG_IMS_BASE_LO);
	writel(upper_32_bits(table), idev->regs + IRQLAB_REG_IMS_BASE_HI);
	writel(IRQLAB_CTRL_IMS_SYSMEM, idev->regs + IRQLAB_REG_CTRL);
	/* The device uses the table from now on: flushed before any slot is used. */
	readl(idev->regs + IRQLAB_REG_CTRL);
	return ims;
}

/*
 * @sysmem: the ims_sysmem module parameter. Without the device's support, or
 * without memory for the table, the table stays in the BAR.
 */
int irqlab_ims_setup(struct irqlab_dev *idev, bool sysmem)
{
	struct device *dev = &idev->pdev->dev;
	struct ims_chip_config cfg = {
		.pdev		= idev->pdev,
		.name		= "irqlab-ims",
		.nr_slots	= idev->ims_slots,
		.storage	= IMS_STORAGE_DEVICE,
		.table		= idev->ims_table,
		.notify_unmask	= irqlab_ims_notify_unmask,
		.notify_discard	= irqlab_ims_notify_discard,
		.ctx		= idev,
		.unflushed_mask	= irqlab_unflushed_mask(),
	};
	struct ims_chip *ims;

	if (!idev->ims_slots)
		return -ENODEV;
	if (sysmem && !(idev->ims_cap & IRQLAB_IMS_CAP_SYSMEM)) {
		dev_warn(dev, "ims_sysmem=1 but the device lacks IRQLAB_IMS_CAP_SYSMEM: IMS table stays in the BAR\n");
		sysmem = false;
	}
	if (sysmem) {
		ims = irqlab_ims_create_sysmem(idev, &cfg);
		if (!IS_ERR(ims)) {
			idev->ims = ims;
			return 0;
		}
		dev_warn(dev, "system-memory IMS table unavailable (%pe): IMS table stays in the BAR\n",
			 ims);
		cfg.storage = IMS_STORAGE_DEVICE;
	}
	ims = ims_chip_create(&cfg);
	if (IS_ERR(ims))
		return PTR_ERR(ims);
	idev->ims = ims;
	return 0;
}

/* After every IMS interrupt is freed. */
void irqlab_ims_teardown(struct irqlab_dev *idev)
{
	if (!idev->ims)
		return;
	if (ims_chip_storage(idev->ims) == IMS_STORAGE_SYSTEM) {
		writel(0, idev->regs + IRQLAB_REG_CTRL);
		writel(0, idev->regs + IRQLAB_REG_IMS_BASE_LO);
		writel(0, idev->regs + IRQLAB_REG_IMS_BASE_HI);
		/* Flushed: the device stops reading the table before it is freed. */
		readl(idev->regs + IRQLAB_REG_CTRL);
	}
	ims_chip_destroy(idev->ims);
	idev->ims = NULL;
}

/*
 * "hwmask" from ctl: the slot's mask bit only, the kernel still thinks the
 * irq is enabled, so an interrupt the device sends anyway (a fault) reaches
 * the handler and is counted.
 */
int irqlab_ims_hwmask(struct irqlab_dev *idev, unsigned int slot, bool masked)
{
	if (!idev->ims)
		return -ENODEV;
	return ims_chip_hw_mask(idev->ims, slot, masked);
}

void irqlab_ims_read_slot(struct irqlab_dev *idev, unsigned int slot, struct ims_slot_state *st)
{
	if (idev->ims) {
		ims_chip_read_slot(idev->ims, slot, st);
		return;
	}
	memset(st, 0, sizeof(*st));
}
