// SPDX-License-Identifier: GPL-2.0
/*
 * ims_irqchip: a device-specific IMS irq domain stacked on the device's MSI
 * parent domain, its irqchip, and a slot allocator (API: ims_irqchip.h).
 *
 *   <name>-<bdf>  ->  INTEL-IR-<n> / AMD-IR-<n> (with interrupt remapping)  ->  VECTOR
 *   <name>-<bdf>  ->  VECTOR                    (without)
 *
 * This level only knows slots: .activate writes the message the parents
 * composed into the slot, .deactivate clears it, mask/unmask flip the slot's
 * mask bit, set_affinity rewrites the slot when the message changed. Vectors,
 * remapping entries, ack and retrigger belong to the parents. The storage
 * (BAR or system memory) is behind ims_storage_ops (ims_storage.c).
 */
#include <linux/bitmap.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>

#include <asm/hw_irq.h>
#include <asm/irqdomain.h>

#include "ims_private.h"

#ifndef CONFIG_X86
#error "ims_irqchip: allocation passes x86's struct irq_alloc_info to the parent domain"
#endif
/* irq_domain_instantiate() and struct irq_domain_info came with 6.11. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#error "ims_irqchip: needs Linux 6.12 or later"
#endif

/* ---- slot writes, ims->lock held ---------------------------------------- */

static void ims_set_mask_locked(struct ims_chip *ims, unsigned int slot, bool masked)
{
	ims->shadow[slot].masked = masked;
	ims->ops->write_ctrl(ims, slot, masked);
	/* The deliberately wrong variant (unflushed_mask) leaves the mask posted. */
	if (masked && ims->cfg.unflushed_mask)
		return;
	ims->ops->flush(ims, slot);
}

static void ims_write_msg_locked(struct ims_chip *ims, unsigned int slot,
				 const struct msi_msg *msg)
{
	bool live = !ims->shadow[slot].masked;

	/*
	 * As for an MSI-X entry, the message of an unmasked slot must not
	 * change under the device, which could send half old, half new. The
	 * writes are posted and stay in order, so no flush is needed between.
	 */
	if (live)
		ims->ops->write_ctrl(ims, slot, true);
	ims->ops->write_msg(ims, slot, msg);
	if (live)
		ims->ops->write_ctrl(ims, slot, false);
	/*
	 * The new message must be in the device before the caller relies on it:
	 * after a move the vector domain frees the old vector.
	 */
	ims->ops->flush(ims, slot);
	ims->shadow[slot].msg = *msg;
}

/* Reset state: masked first, so the device never fires a half-cleared slot. */
static void ims_clear_locked(struct ims_chip *ims, unsigned int slot)
{
	static const struct msi_msg zero;

	ims->shadow[slot].masked = true;
	ims->ops->write_ctrl(ims, slot, true);
	ims->ops->write_msg(ims, slot, &zero);
	ims->ops->flush(ims, slot);
	ims->shadow[slot].msg = zero;
}

static void ims_clear_all(struct ims_chip *ims)
{
	unsigned long flags;
	unsigned int slot;

	raw_spin_lock_irqsave(&ims->lock, flags);
	for (slot = 0; slot < ims->cfg.nr_slots; slot++)
		ims_clear_locked(ims, slot);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
}

/* ---- the irqchip ---------------------------------------------------------- */

/*
 * irq_chip_compose_msi_msg() is not exported: ask the first parent level that
 * composes messages (the remapping chip, or the vector domain's APIC chip).
 */
static bool ims_compose_msg(struct irq_data *d, struct msi_msg *msg)
{
	struct irq_data *p;

	memset(msg, 0, sizeof(*msg));
	for (p = d->parent_data; p; p = p->parent_data) {
		if (p->chip && p->chip->irq_compose_msi_msg) {
			p->chip->irq_compose_msi_msg(p, msg);
			return true;
		}
	}
	return false;
}

static void ims_irq_set_mask(struct irq_data *d, bool masked)
{
	struct ims_chip *ims = irq_data_get_irq_chip_data(d);
	unsigned long flags;

	raw_spin_lock_irqsave(&ims->lock, flags);
	ims_set_mask_locked(ims, irqd_to_hwirq(d), masked);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
}

static void ims_irq_mask(struct irq_data *d)
{
	ims_irq_set_mask(d, true);
}

static void ims_irq_unmask(struct irq_data *d)
{
	ims_irq_set_mask(d, false);
}

static int ims_irq_set_affinity(struct irq_data *d, const struct cpumask *mask, bool force)
{
	struct ims_chip *ims = irq_data_get_irq_chip_data(d);
	unsigned int slot = irqd_to_hwirq(d);
	unsigned long flags;
	struct msi_msg msg;
	int ret;

	ret = irq_chip_set_affinity_parent(d, mask, force);
	/*
	 * Interrupt-remapping internals: with a remapping parent the message
	 * points at the IRTE, which the parent has just rewritten, and it says
	 * so with IRQ_SET_MASK_OK_DONE. Without, vector and destination live
	 * in the message and the slot must follow.
	 */
	if (ret < 0 || ret == IRQ_SET_MASK_OK_DONE)
		return ret;
	/* Before activation the slot is empty; .activate writes it. */
	if (!irqd_is_activated(d) || !ims_compose_msg(d, &msg))
		return ret;
	raw_spin_lock_irqsave(&ims->lock, flags);
	if (memcmp(&msg, &ims->shadow[slot].msg, sizeof(msg)))
		ims_write_msg_locked(ims, slot, &msg);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
	return ret;
}

/*
 * IRQCHIP_MOVE_DEFERRED first appeared in v6.14 ("genirq: Provide
 * IRQCHIP_MOVE_DEFERRED", merged with the irq/core pull for 6.14), together
 * with the removal of the per-interrupt IRQ_MOVE_PCNTXT flag.
 */
#define IMS_HAVE_MOVE_DEFERRED	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0))

static void ims_init_chip(struct ims_chip *ims)
{
	struct irq_chip *chip = &ims->chip;

	chip->name = ims->name;
	chip->irq_mask = ims_irq_mask;
	chip->irq_unmask = ims_irq_unmask;
	chip->irq_ack = irq_chip_ack_parent;
	chip->irq_retrigger = irq_chip_retrigger_hierarchy;
	chip->irq_set_affinity = ims_irq_set_affinity;
	chip->flags = IRQCHIP_SKIP_SET_WAKE | IRQCHIP_AFFINITY_PRE_STARTUP;
	/*
	 * Where an affinity change may run. Directly on the vector domain the
	 * message carries vector and destination, and rewriting a slot is not
	 * atomic: the move must wait for the next interrupt, where the core
	 * masks the slot around it while the old vector still works (x86's own
	 * PCI/MSI chips on the vector domain do the same). Behind remapping
	 * the IRTE is updated atomically and the slot is left alone, so a
	 * process-context move is safe. From 6.14 the top-level chip says so
	 * with IRQCHIP_MOVE_DEFERRED. Before, it was the IRQ_MOVE_PCNTXT
	 * status flag, which (remapping internals) the Intel and AMD remapping
	 * domains set on every irq they allocate; without it moves are
	 * deferred, so the chip needs nothing on 6.12.
	 */
#if IMS_HAVE_MOVE_DEFERRED
	if (ims->parent == x86_vector_domain)
		chip->flags |= IRQCHIP_MOVE_DEFERRED;
#endif
}

/* ---- the domain ------------------------------------------------------------ */

static int ims_domain_alloc(struct irq_domain *domain, unsigned int virq,
			    unsigned int nr_irqs, void *arg)
{
	struct ims_chip *ims = domain->host_data;
	struct irq_alloc_info *info = arg;
	irq_hw_number_t slot = info->hwirq;
	int ret;

	if (nr_irqs != 1 || slot >= ims->cfg.nr_slots)
		return -EINVAL;
	/* One interrupt per slot: a second one would overwrite the first's message. */
	if (test_and_set_bit(slot, ims->live))
		return -EBUSY;

	ret = irq_domain_alloc_irqs_parent(domain, virq, nr_irqs, arg);
	if (ret) {
		clear_bit(slot, ims->live);
		return ret;
	}
	irq_domain_set_info(domain, virq, slot, &ims->chip, ims, handle_edge_irq, NULL, "edge");
	return 0;
}

static void ims_domain_free(struct irq_domain *domain, unsigned int virq, unsigned int nr_irqs)
{
	struct ims_chip *ims = domain->host_data;
	struct irq_data *d = irq_domain_get_irq_data(domain, virq);
	irq_hw_number_t slot = d ? d->hwirq : ims->cfg.nr_slots;

	irq_domain_free_irqs_common(domain, virq, nr_irqs);
	if (slot < ims->cfg.nr_slots)
		clear_bit(slot, ims->live);
}

static int ims_domain_activate(struct irq_domain *domain, struct irq_data *d, bool reserve)
{
	struct ims_chip *ims = domain->host_data;
	unsigned long flags;
	struct msi_msg msg;

	/* Parents are activated first: the vector (and the IRTE) exist now. */
	if (!ims_compose_msg(d, &msg))
		return -EINVAL;
	raw_spin_lock_irqsave(&ims->lock, flags);
	ims_write_msg_locked(ims, irqd_to_hwirq(d), &msg);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
	return 0;
}

static void ims_domain_deactivate(struct irq_domain *domain, struct irq_data *d)
{
	struct ims_chip *ims = domain->host_data;
	unsigned long flags;

	raw_spin_lock_irqsave(&ims->lock, flags);
	ims_clear_locked(ims, irqd_to_hwirq(d));
	raw_spin_unlock_irqrestore(&ims->lock, flags);
}

static const struct irq_domain_ops ims_domain_ops = {
	.alloc		= ims_domain_alloc,
	.free		= ims_domain_free,
	.activate	= ims_domain_activate,
	.deactivate	= ims_domain_deactivate,
};

static int ims_create_domain(struct ims_chip *ims)
{
	struct irq_domain_info info = {
		.size		= ims->cfg.nr_slots,	/* hwirq = slot index */
		.hwirq_max	= ims->cfg.nr_slots,
		.ops		= &ims_domain_ops,
		.host_data	= ims,
		.parent		= ims->parent,
	};
	struct irq_domain *domain;

	info.fwnode = irq_domain_alloc_named_fwnode(ims->name);	/* copies the name */
	if (!info.fwnode)
		return -ENOMEM;
	/*
	 * irq_domain_create_hierarchy() wraps irq_domain_instantiate() (an
	 * inline on 7.x) but turns the errno into NULL.
	 */
	domain = irq_domain_instantiate(&info);
	if (IS_ERR(domain)) {
		irq_domain_free_fwnode(info.fwnode);
		return PTR_ERR(domain);
	}
	ims->domain = domain;
	ims->fwnode = info.fwnode;
	return 0;
}

/* ---- API ------------------------------------------------------------------- */

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
	ims_clear_all(ims);

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
	ims_clear_all(ims);
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
	unsigned long flags;

	if (slot >= ims->cfg.nr_slots)
		return -EINVAL;
	raw_spin_lock_irqsave(&ims->lock, flags);
	ims_set_mask_locked(ims, slot, masked);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
	return 0;
}
