// SPDX-License-Identifier: GPL-2.0
/*
 * ims_irqchip: the library's API (ims_irqchip.h) -- a chip's lifetime, the
 * slot allocator, and what a driver may read back. The hierarchy level
 * (irqchip and domain ops) is ims_domain.c, the storage ims_storage.c.
 */
#include <linux/bitmap.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <asm/hw_irq.h>

#include "ims_private.h"

static bool ims_config_valid(const struct ims_chip_config *cfg)
{
	if (!cfg->pdev || !cfg->name || !cfg->nr_slots)
		return false;
	if (cfg->storage == IMS_STORAGE_DEVICE)
		return cfg->table;
	return cfg->storage == IMS_STORAGE_SYSTEM && cfg->notify_unmask;
}

struct ims_chip *ims_chip_create(const struct ims_chip_config *cfg)
{
	struct ims_chip *ims;
	int ret = -ENOMEM;

	if (!ims_config_valid(cfg))
		return ERR_PTR(-EINVAL);

	ims = kzalloc(sizeof(*ims), GFP_KERNEL);
	if (!ims)
		return ERR_PTR(-ENOMEM);
	ims->cfg = *cfg;
	ims->cfg.name = NULL;	/* the caller's string; ims->name is ours */
	ims->ops = cfg->storage == IMS_STORAGE_SYSTEM ? &ims_system_storage_ops
						      : &ims_device_storage_ops;
	raw_spin_lock_init(&ims->lock);
	mutex_init(&ims->alloc_lock);

	/* INTEL-IR-<n> when the device sits behind interrupt remapping, else VECTOR */
	ims->parent = dev_get_msi_domain(&cfg->pdev->dev);
	if (!ims->parent) {
		ret = -ENODEV;
		goto err_free;
	}
	ims->name = kasprintf(GFP_KERNEL, "%s-%s", cfg->name, pci_name(cfg->pdev));
	ims->shadow = kcalloc(cfg->nr_slots, sizeof(*ims->shadow), GFP_KERNEL);
	ims->live = bitmap_zalloc(cfg->nr_slots, GFP_KERNEL);
	if (!ims->name || !ims->shadow || !ims->live)
		goto err_free;

	ret = ims->ops->init(ims);
	if (ret)
		goto err_free;
	/* Whatever a previous driver left, the device starts from masked, empty slots. */
	ims_slots_clear(ims);

	/*
	 * Interrupt-remapping internals: the Intel and AMD remapping domains
	 * take the requester id from the allocation info, type PCI_MSI/MSIX
	 * and msi_desc_to_pci_dev(info->desc) (intel_irq_remapping_prepare_irte(),
	 * AMD's get_devid()), and BUG() on types they do not know. An IMS slot
	 * has no msi_desc of its own since PCI/IMS left the kernel (6.10), so
	 * they get a zeroed one whose dev is our PCI device. It lives as long
	 * as the domain, though the parents only read it during .alloc.
	 */
	ims->msi_desc.dev = &cfg->pdev->dev;
	ims_init_chip(ims);

	ret = ims_create_domain(ims);
	if (ret)
		goto err_release;
	return ims;

err_release:
	ims->ops->release(ims);
err_free:
	bitmap_free(ims->live);
	kfree(ims->shadow);
	kfree(ims->name);
	kfree(ims);
	return ERR_PTR(ret);
}

void ims_chip_destroy(struct ims_chip *ims)
{
	if (IS_ERR_OR_NULL(ims))
		return;
	WARN(!bitmap_empty(ims->live, ims->cfg.nr_slots),
	     "%s: destroyed with %u slots still allocated\n", ims->name,
	     bitmap_weight(ims->live, ims->cfg.nr_slots));
	/* Reverse of ims_chip_create() */
	irq_domain_remove(ims->domain);
	irq_domain_free_fwnode(ims->fwnode);
	ims_slots_clear(ims);
	ims->ops->release(ims);
	bitmap_free(ims->live);
	kfree(ims->shadow);
	kfree(ims->name);
	kfree(ims);
}

int ims_chip_alloc_irq(struct ims_chip *ims, int slot)
{
	struct irq_alloc_info info;
	int ret;

	if (slot != IMS_SLOT_ANY && (slot < 0 || slot >= ims->cfg.nr_slots))
		return -EINVAL;

	mutex_lock(&ims->alloc_lock);
	if (slot == IMS_SLOT_ANY) {
		slot = find_first_zero_bit(ims->live, ims->cfg.nr_slots);
		if (slot >= ims->cfg.nr_slots) {
			ret = -ENOSPC;
			goto out;
		}
	}
	/*
	 * What x86_msi_prepare() gives a PCI MSI-X vector, so the parents
	 * treat the slot like one (see the stand-in msi_desc above). Behind
	 * Intel remapping with posted interrupts on, this type also selects
	 * the posted-MSI remapping chip (remapping internals).
	 */
	memset(&info, 0, sizeof(info));
	info.type = X86_IRQ_ALLOC_TYPE_PCI_MSIX;
	info.desc = &ims->msi_desc;
	info.hwirq = slot;
	ret = irq_domain_alloc_irqs(ims->domain, 1, dev_to_node(&ims->cfg.pdev->dev), &info);
out:
	mutex_unlock(&ims->alloc_lock);
	return ret;
}

/*
 * irq_domain_free_irqs() is exported only from 7.x on (not in 6.12);
 * irq_dispose_mapping() frees a hierarchy irq through it on both.
 */
void ims_chip_free_irq(struct ims_chip *ims, unsigned int virq)
{
	if (WARN_ON(!irq_domain_get_irq_data(ims->domain, virq)))
		return;
	irq_dispose_mapping(virq);
}

int ims_chip_irq_slot(struct ims_chip *ims, unsigned int virq)
{
	struct irq_data *d = irq_domain_get_irq_data(ims->domain, virq);

	return d ? (int)d->hwirq : -EINVAL;
}

unsigned int ims_chip_slots(const struct ims_chip *ims)
{
	return ims->cfg.nr_slots;
}

unsigned int ims_chip_slots_in_use(struct ims_chip *ims)
{
	return bitmap_weight(ims->live, ims->cfg.nr_slots);
}

enum ims_storage ims_chip_storage(const struct ims_chip *ims)
{
	return ims->cfg.storage;
}

dma_addr_t ims_chip_table_dma(const struct ims_chip *ims)
{
	return ims->sys_dma;
}

const char *ims_chip_domain_name(const struct ims_chip *ims)
{
	return ims->domain->name;
}

const char *ims_chip_parent_name(const struct ims_chip *ims)
{
	return ims->parent->name;
}

void ims_chip_read_slot(struct ims_chip *ims, unsigned int slot, struct ims_slot_state *st)
{
	memset(st, 0, sizeof(*st));
	if (slot < ims->cfg.nr_slots)
		ims->ops->read(ims, slot, st);
}

int ims_chip_hw_mask(struct ims_chip *ims, unsigned int slot, bool masked)
{
	if (slot >= ims->cfg.nr_slots)
		return -EINVAL;
	ims_slot_set_mask(ims, slot, masked);
	return 0;
}
