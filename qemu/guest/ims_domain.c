// SPDX-License-Identifier: GPL-2.0
/*
 * ims_irqchip: the hierarchy level itself -- a device-specific IMS irq domain
 * stacked on the device's MSI parent domain, and its irqchip. The API around
 * it (lifetime, slot allocator) is ims_irqchip.c.
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
#include <linux/bitops.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/string.h>
#include <linux/version.h>

#include <asm/hw_irq.h>
#include <asm/irqdomain.h>

#include "ims_private.h"

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

/*
 * Reset state: masked first, so the device never fires a half-cleared slot,
 * and whatever it held for the slot's last owner discarded, so the next
 * owner's unmask does not deliver a stale interrupt.
 */
static void ims_clear_locked(struct ims_chip *ims, unsigned int slot, bool flush)
{
	static const struct msi_msg zero;

	ims->shadow[slot].masked = true;
	ims->ops->discard(ims, slot);
	ims->ops->write_msg(ims, slot, &zero);
	if (flush)
		ims->ops->flush(ims, slot);
	ims->shadow[slot].msg = zero;
}

void ims_slots_clear(struct ims_chip *ims)
{
	unsigned long flags;
	unsigned int slot;

	for (slot = 0; slot < ims->cfg.nr_slots; slot++) {
		raw_spin_lock_irqsave(&ims->lock, flags);
		ims_clear_locked(ims, slot, false);
		raw_spin_unlock_irqrestore(&ims->lock, flags);
	}
	/* One read flushes them all: posted writes to the device land in order. */
	ims->ops->flush(ims, ims->cfg.nr_slots - 1);
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

void ims_slot_set_mask(struct ims_chip *ims, unsigned int slot, bool masked)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&ims->lock, flags);
	ims_set_mask_locked(ims, slot, masked);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
}

static void ims_irq_mask(struct irq_data *d)
{
	ims_slot_set_mask(irq_data_get_irq_chip_data(d), irqd_to_hwirq(d), true);
}

static void ims_irq_unmask(struct irq_data *d)
{
	ims_slot_set_mask(irq_data_get_irq_chip_data(d), irqd_to_hwirq(d), false);
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

void ims_init_chip(struct ims_chip *ims)
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
	ims_clear_locked(ims, irqd_to_hwirq(d), true);
	raw_spin_unlock_irqrestore(&ims->lock, flags);
}

static const struct irq_domain_ops ims_domain_ops = {
	.alloc		= ims_domain_alloc,
	.free		= ims_domain_free,
	.activate	= ims_domain_activate,
	.deactivate	= ims_domain_deactivate,
};

int ims_create_domain(struct ims_chip *ims)
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
