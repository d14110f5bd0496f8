/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Register layout of the irqlab reference device: a PCIe endpoint with work
 * queues whose interrupts go to MSI-X vectors or to IMS slots. The TypeScript
 * model in src/devices/ims-queue.ts implements exactly this layout; keep the two
 * in step.
 *
 * BAR0: 64-bit memory BAR, 16 KiB, registers and the IMS table.
 * BAR2: 32-bit memory BAR, 8 KiB, MSI-X table (0x0000) and PBA (0x1000).
 * All registers are 32 bits wide, little endian, naturally aligned.
 */
#ifndef IRQLAB_HW_H
#define IRQLAB_HW_H

#define IRQLAB_VENDOR_ID		0xf1ab
#define IRQLAB_DEVICE_ID		0x0001

#define IRQLAB_ID_MAGIC			0x4c515249	/* "IRQL" */

/* Device registers (BAR0) */
#define IRQLAB_REG_ID			0x000	/* RO: IRQLAB_ID_MAGIC */
#define IRQLAB_REG_VERSION		0x004	/* RO: major << 16 | minor */
#define IRQLAB_REG_NUM_QUEUES		0x008	/* RO */
#define IRQLAB_REG_IMS_CAP		0x00c	/* RO, see IRQLAB_IMS_CAP_* */
#define IRQLAB_REG_IMS_OFFSET		0x010	/* RO: IMS table offset in its BAR */
#define IRQLAB_REG_CTRL			0x014	/* RW, see IRQLAB_CTRL_* */
#define IRQLAB_REG_IMS_BASE_LO		0x018	/* RW: system-memory IMS table address */
#define IRQLAB_REG_IMS_BASE_HI		0x01c	/* RW */
#define IRQLAB_REG_SCRATCH		0x020	/* RW: no side effect */
#define IRQLAB_REG_DOORBELL		0x024	/* WO: counted, no other effect */
#define IRQLAB_REG_DB_COUNT		0x028	/* RO: writes to DOORBELL since reset */
#define IRQLAB_REG_DB_LAST		0x02c	/* RO: last value written to DOORBELL */
#define IRQLAB_REG_IMS_UNMASK		0x030	/* WO: slot index; re-read slot, fire if pending */
#define IRQLAB_REG_IMS_DISCARD		0x034	/* WO: slot index; drop what the slot holds pending */
#define IRQLAB_REG_IMS_PENDING_LO	0x038	/* RO: pending bits of slots 0-31 */
#define IRQLAB_REG_IMS_PENDING_HI	0x03c	/* RO: pending bits of slots 32-63 */

#define IRQLAB_IMS_CAP_SLOTS(v)		((v) & 0xffff)		/* number of slots */
#define IRQLAB_IMS_CAP_BAR(v)		(((v) >> 16) & 0x7)	/* BAR holding the table */
#define IRQLAB_IMS_CAP_SYSMEM		(1u << 31)		/* system-memory mode supported */

#define IRQLAB_CTRL_IMS_SYSMEM		(1u << 0)	/* IMS messages live in system memory */

/* Queue registers: block of 0x20 bytes per queue from IRQLAB_QUEUE_BASE */
#define IRQLAB_QUEUE_BASE		0x100
#define IRQLAB_QUEUE_STRIDE		0x20
#define IRQLAB_QUEUE_REG(q, r)		(IRQLAB_QUEUE_BASE + (q) * IRQLAB_QUEUE_STRIDE + (r))
#define IRQLAB_Q_IRQ			0x00	/* RW: routing, see IRQLAB_Q_IRQ_* */
#define IRQLAB_Q_DOORBELL		0x04	/* WO: submit n work items */
#define IRQLAB_Q_COMPLETED		0x08	/* RO: completions since reset */
#define IRQLAB_Q_IRQS_SENT		0x0c	/* RO: interrupts raised since reset */

#define IRQLAB_Q_IRQ_INDEX(v)		((v) & 0xffff)	/* MSI-X vector or IMS slot */
#define IRQLAB_Q_IRQ_IMS		(1u << 31)	/* route to IMS slot, else MSI-X */
#define IRQLAB_Q_IRQ_ENABLE		(1u << 30)	/* raise an interrupt per completion */

/*
 * IMS slot: 16 bytes, the layout of the IDXD-style IMS chip. The table lives in
 * the BAR (device memory) or, with IRQLAB_CTRL_IMS_SYSMEM, in system memory at
 * IMS_BASE, from where the device reads a slot by DMA when it fires.
 *
 * A slot fired while masked is held (pending) and sent on unmask. The pending
 * bit reads in CTRL (device memory) or IMS_PENDING_LO/HI, and is discarded by
 * writing 1 to it (W1C; do not read-modify-write CTRL) or, in system memory,
 * the slot's index to IMS_DISCARD: a driver freeing a slot does so, so that
 * the slot's next owner does not receive a stale interrupt.
 *
 * The PASID enable bit and 20-bit PASID (IDXD's layout) are stored and shown
 * in the lab's traces, but the message leaves without them: the device sends
 * it as a vfio-user DMA_WRITE, which carries an address and data and no PASID
 * TLP prefix, so the interrupt reaches the guest as an untagged write.
 */
#define IRQLAB_IMS_SLOT_SIZE		16
#define IRQLAB_IMS_ADDR_LO		0x0
#define IRQLAB_IMS_ADDR_HI		0x4
#define IRQLAB_IMS_DATA			0x8
#define IRQLAB_IMS_CTRL			0xc
#define IRQLAB_IMS_CTRL_MASK		(1u << 0)	/* set at reset */
#define IRQLAB_IMS_CTRL_PENDING		(1u << 1)	/* W1C, device memory mode only */
#define IRQLAB_IMS_CTRL_PASID_EN	(1u << 3)	/* the slot's PASID is valid */
#define IRQLAB_IMS_CTRL_PASID_SHIFT	12		/* bits 31:12: PASID */

#endif /* IRQLAB_HW_H */
