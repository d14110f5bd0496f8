// SPDX-License-Identifier: GPL-2.0
/*
 * irqlab IMS: a device-specific irq domain stacked on the device's MSI parent
 * domain, and the irqchip that drives the device's IMS slots.
 *
 * PCI/IMS (pci_create_ims_domain() and friends) only existed from v6.2 to
 * v6.9, so on 6.12 and 7.x the driver builds the hierarchy itself, the way
 * arch/x86/kernel/hpet.c stacks its MSI chip:
 *
 *   irqlab-ims-<bdf>  ->  INTEL-IR-<n> (with interrupt remapping)  ->  VECTOR
 *   irqlab-ims-<bdf>  ->  VECTOR       (without)
 *
 * This level only knows the slot: .activate writes the message composed by
 * the parent into the slot, .deactivate clears it, mask/unmask toggle the
 * slot's mask bit (through irqlab_ims_table.c). Vector assignment, remapping
 * entries, ack and retrigger belong to the parents.
 */
#include <linux/device.h>
#include <linux/irq.h>
#include <linux/irqdomain.h>
#include <linux/msi.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>

#include <asm/hw_irq.h>

#include "irqlab.h"

#ifndef CONFIG_X86
#error "irqlab: the IMS domain passes x86's struct irq_alloc_info to its parent"
#endif
/* irq_domain_instantiate() and the irq_domain_info it takes came with 6.11. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#error "irqlab: needs Linux 6.12 or later"
#endif

/*
 * irq_chip_compose_msi_msg() is not exported: ask the first parent level
 * that composes messages (INTEL-IR's chip with remapping, the vector
 * domain's APIC chip without).
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

static bool msi_msg_equal(const struct msi_msg *a, const struct msi_msg *b)
{
	return a->address_lo == b->address_lo && a->address_hi == b->address_hi &&
	       a->data == b->data;
}

static void irqlab_ims_mask(struct irq_data *d)
{
	irqlab_ims_write_ctrl(irq_data_get_irq_chip_data(d), irqd_to_hwirq(d), true);
}

static void irqlab_ims_unmask(struct irq_data *d)
{
	irqlab_ims_write_ctrl(irq_data_get_irq_chip_data(d), irqd_to_hwirq(d), false);
}

static int irqlab_ims_set_affinity(struct irq_data *d, const struct cpumask *mask, bool force)
{
	struct irqlab_dev *idev = irq_data_get_irq_chip_data(d);
	unsigned int slot = irqd_to_hwirq(d);
	struct msi_msg msg;
	int ret;

	ret = irq_chip_set_affinity_parent(d, mask, force);
	/*
	 * With remapping the message points at the IRTE, which the parent has
	 * just rewritten: it says so with IRQ_SET_MASK_OK_DONE. Without, the
	 * vector/destination live in the message and the slot must follow.
	 */
	if (ret < 0 || ret == IRQ_SET_MASK_OK_DONE)
		return ret;
	/* Before activation there is nothing in the slot; .activate writes it. */
	if (!irqd_is_activated(d))
		return ret;
	if (ims_compose_msg(d, &msg) && !msi_msg_equal(&msg, &idev->ims_msg[slot]))
		irqlab_ims_write_msg(idev, slot, &msg);
	return ret;
}

/*
 * From 6.13 on, whether an affinity change may be done in process context is
 * a property of the top-level chip (IRQCHIP_MOVE_DEFERRED; kernel/irq
 * internals.h irq_can_move_pcntxt()). x86's own MSI chips set it when their
 * parent is the vector domain, where the message itself carries vector and
 * destination and a slot rewrite is not atomic; behind interrupt remapping
 * the IRTE is updated atomically and no deferral is needed (msi.c,
 * x86_init_dev_msi_info). On 6.12 the remapping parent marks the interrupt
 * IRQ_MOVE_PCNTXT itself at allocation and the default is deferred, so one
 * chip does for both.
 */
#define IRQLAB_IMS_CHIP_FLAGS	(IRQCHIP_SKIP_SET_WAKE | IRQCHIP_AFFINITY_PRE_STARTUP)

static const struct irq_chip irqlab_ims_chip = {
	.name			= "IRQLAB-IMS",
	.irq_mask		= irqlab_ims_mask,
	.irq_unmask		= irqlab_ims_unmask,
	.irq_ack		= irq_chip_ack_parent,
	.irq_retrigger		= irq_chip_retrigger_hierarchy,
	.irq_set_affinity	= irqlab_ims_set_affinity,
	.flags			= IRQLAB_IMS_CHIP_FLAGS,
};

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
static const struct irq_chip irqlab_ims_chip_deferred = {
	.name			= "IRQLAB-IMS",
	.irq_mask		= irqlab_ims_mask,
	.irq_unmask		= irqlab_ims_unmask,
	.irq_ack		= irq_chip_ack_parent,
	.irq_retrigger		= irq_chip_retrigger_hierarchy,
	.irq_set_affinity	= irqlab_ims_set_affinity,
	.flags			= IRQLAB_IMS_CHIP_FLAGS | IRQCHIP_MOVE_DEFERRED,
};
#endif

static const struct irq_chip *ims_chip_for(struct irq_domain *parent)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	/* On x86 the vector domain is the root: no parent of its own. */
	if (!parent->parent)
		return &irqlab_ims_chip_deferred;
#endif
	return &irqlab_ims_chip;
}

static int irqlab_ims_domain_alloc(struct irq_domain *domain, unsigned int virq,
				   unsigned int nr_irqs, void *arg)
{
	struct irqlab_dev *idev = domain->host_data;
	struct irq_alloc_info *info = arg;
	irq_hw_number_t slot = info->hwirq;
	int ret;

	if (nr_irqs != 1 || slot >= idev->ims_slots)
		return -EINVAL;

	ret = irq_domain_alloc_irqs_parent(domain, virq, nr_irqs, arg);
	if (ret)
		return ret;

	irq_domain_set_info(domain, virq, slot, ims_chip_for(domain->parent), idev,
			    handle_edge_irq, NULL, "edge");
	return 0;
}

static int irqlab_ims_domain_activate(struct irq_domain *domain, struct irq_data *d,
				      bool reserve)
{
	struct irqlab_dev *idev = domain->host_data;
	struct msi_msg msg;

	/* Parents are activated first: the vector and the IRTE exist now. */
	if (!ims_compose_msg(d, &msg))
		return -EINVAL;
	irqlab_ims_write_msg(idev, irqd_to_hwirq(d), &msg);
	return 0;
}

static void irqlab_ims_domain_deactivate(struct irq_domain *domain, struct irq_data *d)
{
	irqlab_ims_clear_slot(domain->host_data, irqd_to_hwirq(d));
}

static const struct irq_domain_ops irqlab_ims_domain_ops = {
	.alloc		= irqlab_ims_domain_alloc,
	.free		= irq_domain_free_irqs_common,
	.activate	= irqlab_ims_domain_activate,
	.deactivate	= irqlab_ims_domain_deactivate,
};

int irqlab_ims_create_domain(struct irqlab_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	/*
	 * irq_domain_create_hierarchy() wraps irq_domain_instantiate()
	 * (exported on 6.12, an inline on 7.x) but turns the errno into NULL.
	 */
	struct irq_domain_info info = {
		.size		= idev->ims_slots,	/* hwirq = slot index */
		.hwirq_max	= idev->ims_slots,
		.ops		= &irqlab_ims_domain_ops,
		.host_data	= idev,
	};
	struct irq_domain *domain;
	char *name;

	/* INTEL-IR-<n> when the device sits behind interrupt remapping, else VECTOR */
	info.parent = dev_get_msi_domain(&pdev->dev);
	if (!info.parent)
		return -ENODEV;

	name = kasprintf(GFP_KERNEL, "irqlab-ims-%s", pci_name(pdev));
	if (!name)
		return -ENOMEM;
	info.fwnode = irq_domain_alloc_named_fwnode(name);	/* copies the name */
	kfree(name);
	if (!info.fwnode)
		return -ENOMEM;

	/*
	 * The remapping parents take the requester id from the allocation
	 * info: type PCI_MSI/PCI_MSIX and msi_desc_to_pci_dev(info->desc)
	 * (intel_irq_remapping_prepare_irte(); AMD's get_devid() alike), and
	 * BUG() on types they do not know. There is no real msi_desc for an
	 * IMS slot (no PCI/IMS in 6.10+), so hand them a zeroed one whose dev
	 * is our PCI device. It lives as long as the domain, though the
	 * parents only read it during .alloc.
	 */
	memset(&idev->ims_msi_desc, 0, sizeof(idev->ims_msi_desc));
	idev->ims_msi_desc.dev = &pdev->dev;

	domain = irq_domain_instantiate(&info);
	if (IS_ERR(domain)) {
		irq_domain_free_fwnode(info.fwnode);
		return PTR_ERR(domain);
	}
	idev->ims_parent = info.parent;
	idev->ims_domain = domain;
	idev->ims_fwnode = info.fwnode;
	return 0;
}

void irqlab_ims_remove_domain(struct irqlab_dev *idev)
{
	if (idev->ims_domain)
		irq_domain_remove(idev->ims_domain);
	if (idev->ims_fwnode)
		irq_domain_free_fwnode(idev->ims_fwnode);
	idev->ims_domain = NULL;
	idev->ims_fwnode = NULL;
	idev->ims_parent = NULL;
}

/* Returns the Linux irq number of @slot's interrupt, or a negative errno. */
int irqlab_ims_alloc_irq(struct irqlab_dev *idev, unsigned int slot)
{
	struct irq_alloc_info info;

	if (!idev->ims_domain || slot >= idev->ims_slots)
		return -ENODEV;

	/* What x86_msi_prepare() would give a PCI MSI-X vector; hwirq = slot */
	memset(&info, 0, sizeof(info));
	info.type = X86_IRQ_ALLOC_TYPE_PCI_MSIX;
	info.desc = &idev->ims_msi_desc;
	info.hwirq = slot;
	return irq_domain_alloc_irqs(idev->ims_domain, 1, dev_to_node(&idev->pdev->dev), &info);
}

/*
 * irq_domain_free_irqs() is exported only from 7.x on (not in 6.12);
 * irq_dispose_mapping() frees a hierarchy irq through it on both.
 */
void irqlab_ims_free_irq(unsigned int irq)
{
	irq_dispose_mapping(irq);
}
