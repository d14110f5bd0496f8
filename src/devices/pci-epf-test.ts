// The kernel's PCI endpoint test function (pci-epf-test) as a vfio-user
// device, so that the host side written for it -- drivers/misc/
// pci_endpoint_test.c, tools/pci/pcitest (6.12) and the pci_endpoint
// kselftest (7.x) -- can judge irqlab. The register interface follows
// Documentation/PCI/endpoint/pci-test-function.rst and what the 6.12 and 7.3
// host drivers expect of it.
//
//   BAR0 (32-bit): test registers at 0x0000; the MSI-X table at 0x1000 and
//                  its PBA after it (as the test function keeps them in its
//                  register BAR)
//   BAR1-BAR5 (32-bit): endpoint memory for the BAR tests (sizes: options)
//
// The host writes the parameters, then COMMAND; the function runs commands
// one at a time, in order, and raises the interrupt IRQ_TYPE/IRQ_NUMBER name
// when each is done (after the data it wrote has landed). A reset cancels
// what is in flight.
import { randomInt } from 'node:crypto';
import { PciFunction } from '../pci/function.ts';
import { RegisterMap } from '../device/register-map.ts';
import { PCI_COMMAND_INTX_DISABLE } from '../pci/regs.ts';
import { BarMemory } from './epf/bar-memory.ts';
import {
  readAndCheck, writeRandom, copy, type DmaPort,
  STATUS_READ_FAIL, STATUS_WRITE_FAIL, STATUS_COPY_FAIL, STATUS_SRC_ADDR_INVALID, STATUS_DST_ADDR_INVALID,
} from './epf/transfers.ts';

/** Synopsys' DesignWare endpoint id: pci_endpoint_test binds it with default driver data (registers in BAR0, no alignment). */
export const EPF_TEST_VENDOR_ID = 0x16c3;
export const EPF_TEST_DEVICE_ID = 0xedda;

export const Reg = {
  MAGIC: 0x00, COMMAND: 0x04, STATUS: 0x08, SRC_ADDR_LO: 0x0c, SRC_ADDR_HI: 0x10, DST_ADDR_LO: 0x14, DST_ADDR_HI: 0x18,
  SIZE: 0x1c, CHECKSUM: 0x20, IRQ_TYPE: 0x24, IRQ_NUMBER: 0x28, FLAGS: 0x2c, CAPS: 0x30,
  DB_BAR: 0x34, DB_OFFSET: 0x38, DB_DATA: 0x3c,
} as const;

export const Command = {
  RAISE_INTX_IRQ: 1 << 0, RAISE_MSI_IRQ: 1 << 1, RAISE_MSIX_IRQ: 1 << 2, READ: 1 << 3, WRITE: 1 << 4, COPY: 1 << 5,
  ENABLE_DOORBELL: 1 << 6, DISABLE_DOORBELL: 1 << 7, BAR_SUBRANGE_SETUP: 1 << 8, BAR_SUBRANGE_CLEAR: 1 << 9,
} as const;

export const Status = {
  READ_SUCCESS: 1 << 0, READ_FAIL: 1 << 1, WRITE_SUCCESS: 1 << 2, WRITE_FAIL: 1 << 3, COPY_SUCCESS: 1 << 4, COPY_FAIL: 1 << 5,
  IRQ_RAISED: 1 << 6, SRC_ADDR_INVALID: 1 << 7, DST_ADDR_INVALID: 1 << 8,
  DOORBELL_SUCCESS: 1 << 9, DOORBELL_ENABLE_SUCCESS: 1 << 10, DOORBELL_ENABLE_FAIL: 1 << 11,
  DOORBELL_DISABLE_SUCCESS: 1 << 12, DOORBELL_DISABLE_FAIL: 1 << 13,
  BAR_SUBRANGE_SETUP_SUCCESS: 1 << 14, BAR_SUBRANGE_SETUP_FAIL: 1 << 15,
  BAR_SUBRANGE_CLEAR_SUCCESS: 1 << 16, BAR_SUBRANGE_CLEAR_FAIL: 1 << 17,
} as const;

export const Cap = {
  UNALIGNED_ACCESS: 1 << 0, MSI: 1 << 1, MSIX: 1 << 2, INTX: 1 << 3, SUBRANGE_MAPPING: 1 << 4, DYNAMIC_INBOUND_MAPPING: 1 << 5,
} as const;

export const IrqType = { INTX: 0, MSI: 1, MSIX: 2 } as const;
/**
 * FLAGS.USE_DMA: the test function moves the data with its DMA engine rather
 * than with CPU copies through an outbound window. Both are the function's own
 * memory requests here, so the flag changes nothing (and both work).
 */
export const FLAG_USE_DMA = 1 << 0;
/** DB_BAR when no doorbell is set up (the test function's NO_BAR). */
export const NO_BAR = 0xffffffff;

export const MSIX_TABLE_OFFSET = 0x1000;
/** Where the doorbell sits in the BAR it takes over. */
export const DOORBELL_OFFSET = 0x40;
/**
 * MSI-X vectors by default: the most a table can have, and what the driver's
 * tests raise. The driver asks for all of them at once and fails if any
 * cannot be had: an x86 guest gives one device about 197 vectors per vCPU
 * (2 vCPUs: 394), so 2048 needs 12 vCPUs (see README).
 */
export const DEFAULT_MSIX_VECTORS = 2048;
/** BAR1-BAR5 by default: small, so the BAR tests (one MMIO read per 4 bytes) stay quick under TCG. */
export const DEFAULT_BAR_SIZES = [0x1000, 0x2000, 0x4000, 0x8000, 0x10000];
/** The largest transfer a command may ask for (the host driver itself allocates at most 4 MiB). */
export const MAX_TRANSFER = 64 << 20;

export interface PciEpfTestOptions {
  /** MSI-X table size, 1..2048 (0: no MSI-X). */
  msixVectors?: number;
  /** Sizes of BAR1..BAR5 in bytes (powers of two >= 16; 0 leaves a BAR out). */
  barSizes?: number[];
}

/** A command as the host left the registers when it wrote COMMAND. */
interface Job {
  command: number;
  src: bigint;
  dst: bigint;
  size: number;
  checksum: number;
  irqType: number;
  irqNumber: number;
}

const OPTION_KEYS = ['msixVectors', 'barSizes'];

export class PciEpfTestDevice extends PciFunction {
  readonly regs: RegisterMap;
  readonly memories: (BarMemory | undefined)[];
  /** Commands written and not started yet (COMMAND reads back the last until then). */
  private waiting = 0;
  /** Commands run one after the other on this chain. */
  private queue: Promise<void> = Promise.resolve();
  /** Bumped by reset: work of an older generation stops. */
  private generation = 0;
  /** INTx is up until the interrupt has left (see pulseIntx). */
  private intxHeld = false;
  /** Commands finished since reset (tests wait on it). */
  completed = 0;

  constructor(opts: PciEpfTestOptions = {}) {
    const unknown = Object.keys(opts).filter((k) => !OPTION_KEYS.includes(k));
    if (unknown.length) throw new Error(`pci-epf-test: unknown option ${unknown.join(', ')}; options are ${OPTION_KEYS.join(', ')}`);
    const vectors = opts.msixVectors ?? DEFAULT_MSIX_VECTORS;
    if (!Number.isInteger(vectors) || vectors < 0 || vectors > 2048) throw new Error(`pci-epf-test: msixVectors must be 0..2048, got ${vectors}`);
    const sizes = opts.barSizes ?? DEFAULT_BAR_SIZES;
    if (!Array.isArray(sizes) || sizes.length !== 5) throw new Error(`pci-epf-test: barSizes lists BAR1..BAR5 (5 sizes), got ${JSON.stringify(sizes)}`);
    const tableSize = vectors * 16;
    const pbaOffset = MSIX_TABLE_OFFSET + Math.ceil(tableSize / 0x1000) * 0x1000;
    const bar0 = Math.max(0x4000, 2 ** Math.ceil(Math.log2(pbaOffset + Math.ceil(vectors / 64) * 8)));
    const bars: Record<number, { type: 'mem32'; size: number }> = { 0: { type: 'mem32', size: bar0 } };
    sizes.forEach((s, i) => { if (s) bars[i + 1] = { type: 'mem32', size: s }; });
    super({
      ids: { vendor: EPF_TEST_VENDOR_ID, device: EPF_TEST_DEVICE_ID, classCode: 0xff0000 },
      bars,
      capabilities: {
        pm: true,
        pcie: { flr: true },
        msi: { vectors: 32, is64: true, perVectorMask: true },
        msix: vectors ? { vectors, bar: 0, tableOffset: MSIX_TABLE_OFFSET, pbaOffset } : undefined,
        aer: true,
        dsn: 0x16c3_edda_0000_0001n,
      },
    });
    this.memories = [undefined, ...sizes.map((s, i) => (s ? new BarMemory(i + 1, s) : undefined))];
    for (const m of this.memories) if (m) this.addWindow(m.bar, m);

    const caps = Cap.UNALIGNED_ACCESS | Cap.MSI | (vectors ? Cap.MSIX : 0) | Cap.INTX | Cap.SUBRANGE_MAPPING | Cap.DYNAMIC_INBOUND_MAPPING;
    // The registers are the endpoint's RAM: any size up to 8 bytes, aligned.
    this.regs = new RegisterMap({
      size: 0x40,
      access: { min: 1, max: 8, aligned: true },
      registers: [
        { name: 'MAGIC', offset: Reg.MAGIC },
        { name: 'COMMAND', offset: Reg.COMMAND, write: (v) => this.submit(Number(v)) },
        { name: 'STATUS', offset: Reg.STATUS },
        { name: 'SRC_ADDR_LO', offset: Reg.SRC_ADDR_LO },
        { name: 'SRC_ADDR_HI', offset: Reg.SRC_ADDR_HI },
        { name: 'DST_ADDR_LO', offset: Reg.DST_ADDR_LO },
        { name: 'DST_ADDR_HI', offset: Reg.DST_ADDR_HI },
        { name: 'SIZE', offset: Reg.SIZE },
        { name: 'CHECKSUM', offset: Reg.CHECKSUM },
        { name: 'IRQ_TYPE', offset: Reg.IRQ_TYPE },
        { name: 'IRQ_NUMBER', offset: Reg.IRQ_NUMBER },
        { name: 'FLAGS', offset: Reg.FLAGS },
        { name: 'CAPS', offset: Reg.CAPS, access: 'RO', reset: caps },
        { name: 'DB_BAR', offset: Reg.DB_BAR, reset: NO_BAR },
        { name: 'DB_OFFSET', offset: Reg.DB_OFFSET },
        { name: 'DB_DATA', offset: Reg.DB_DATA },
      ],
    });
    this.addRegisters(0, 0, this.regs);
    // INTx is a pulse (see pulseIntx): drop the line once it has been sent,
    // or at once if Interrupt Disable kept it from being asserted at all.
    this.on('irq', (e) => {
      if (e.kind !== 'intx' || !this.intxHeld) return;
      if (e.outcome === 'delivered' || (e.outcome === 'pending' && this.command & PCI_COMMAND_INTX_DISABLE)) {
        this.intxHeld = false;
        this.intx.deassert();
      }
    });
    this.onReset(() => {
      this.generation++;
      this.waiting = 0;
      this.intxHeld = false;
      this.completed = 0;
    });
  }

  private reg(name: string): number {
    return Number(this.regs.value(name));
  }

  private addr(lo: string, hi: string): bigint {
    return (BigInt(this.reg(hi)) << 32n) | BigInt(this.reg(lo));
  }

  // ---- commands ---------------------------------------------------------

  /** The host wrote COMMAND: latch the parameters and queue it. */
  private submit(command: number): void {
    if (command === 0) return;
    const job: Job = {
      command, src: this.addr('SRC_ADDR_LO', 'SRC_ADDR_HI'), dst: this.addr('DST_ADDR_LO', 'DST_ADDR_HI'),
      size: this.reg('SIZE'), checksum: this.reg('CHECKSUM'), irqType: this.reg('IRQ_TYPE'), irqNumber: this.reg('IRQ_NUMBER'),
    };
    const gen = this.generation;
    this.waiting++;
    this.queue = this.queue.then(() => this.run(job, gen)).catch((err) => {
      this.context?.log(`pci-epf-test: command 0x${command.toString(16)} failed inside the device: ${(err as Error).stack ?? err}`);
    });
  }

  /** Resolves when every command written so far has finished (tests). */
  idle(): Promise<void> {
    return this.queue;
  }

  private async run(job: Job, gen: number): Promise<void> {
    if (gen !== this.generation) return;
    // Picked up: COMMAND reads 0 again unless another is waiting, and the
    // status starts afresh (as the test function does).
    if (--this.waiting === 0) this.regs.set('COMMAND', 0);
    this.regs.set('STATUS', 0);
    const hex = `0x${job.command.toString(16)}`;
    if (job.irqType > IrqType.MSIX) {
      this.guestError('device-rule', `pci-epf-test: IRQ_TYPE ${job.irqType} is not 0 (INTx), 1 (MSI) or 2 (MSI-X); command ${hex} ignored`);
      return;
    }
    let status = 0;
    switch (job.command) {
      case Command.RAISE_INTX_IRQ:
      case Command.RAISE_MSI_IRQ:
      case Command.RAISE_MSIX_IRQ:
        break;
      case Command.READ:
        status = await this.transfer(job, gen, STATUS_READ_FAIL, (dma) => readAndCheck(dma, job.src, job.size, job.checksum));
        break;
      case Command.WRITE:
        status = await this.transfer(job, gen, STATUS_WRITE_FAIL, async (dma) => {
          const r = await writeRandom(dma, job.dst, job.size);
          this.regs.set('CHECKSUM', r.checksum);
          return r.status;
        });
        break;
      case Command.COPY:
        status = await this.transfer(job, gen, STATUS_COPY_FAIL, (dma) => copy(dma, job.src, job.dst, job.size));
        break;
      case Command.ENABLE_DOORBELL:
        status = this.enableDoorbell();
        break;
      case Command.DISABLE_DOORBELL:
        status = this.disableDoorbell();
        break;
      case Command.BAR_SUBRANGE_SETUP:
        status = this.subrangeSetup(job.size);
        break;
      case Command.BAR_SUBRANGE_CLEAR:
        status = this.subrangeClear(job.size);
        break;
      default:
        this.guestError('device-rule', `pci-epf-test: COMMAND ${hex} is not one command bit of 0x${((Command.BAR_SUBRANGE_CLEAR << 1) - 1).toString(16)}; ignored`);
        return;
    }
    if (gen !== this.generation) return;
    this.regs.set('STATUS', this.reg('STATUS') | status);
    this.raise(job.irqType, job.irqNumber);
    this.completed++;
  }

  /** Checks a transfer's parameters, then moves the data with the device's DMA. */
  private async transfer(job: Job, gen: number, fail: number, move: (dma: DmaPort) => Promise<number>): Promise<number> {
    const what = `pci-epf-test: ${job.command === Command.READ ? 'READ' : job.command === Command.WRITE ? 'WRITE' : 'COPY'} of ${job.size} bytes`;
    if (job.size > MAX_TRANSFER) {
      this.guestError('device-rule', `${what}: SIZE is more than the ${MAX_TRANSFER >> 20} MiB the function can buffer; failed`);
      return fail;
    }
    const end = 1n << 64n;
    if (job.command !== Command.WRITE && job.src + BigInt(job.size) > end) {
      this.guestError('device-rule', `${what} from 0x${job.src.toString(16)} runs past the end of the 64-bit address space`);
      return fail | STATUS_SRC_ADDR_INVALID;
    }
    if (job.command !== Command.READ && job.dst + BigInt(job.size) > end) {
      this.guestError('device-rule', `${what} to 0x${job.dst.toString(16)} runs past the end of the 64-bit address space`);
      return fail | STATUS_DST_ADDR_INVALID;
    }
    if (!this.busMaster) {
      this.guestError('device-rule', `${what}: bus mastering is off in the command register; the function cannot reach host memory`);
      return fail | (job.command === Command.WRITE ? STATUS_DST_ADDR_INVALID : STATUS_SRC_ADDR_INVALID);
    }
    return move({
      read: (a, n) => this.dmaRead(a, n),
      write: (a, d, o) => this.dmaWrite(a, d, o),
      cancelled: () => gen !== this.generation,
    });
  }

  // ---- interrupts ---------------------------------------------------------

  /** STATUS says IRQ_RAISED, then the interrupt leaves (the driver's handler reads STATUS). */
  private raise(type: number, n: number): void {
    this.regs.set('STATUS', this.reg('STATUS') | Status.IRQ_RAISED);
    if (type === IrqType.INTX) {
      this.pulseIntx();
    } else if (type === IrqType.MSI) {
      const enabled = this.msi!.enabledVectors;
      if (n < 1 || n > enabled) {
        this.guestError('irq-index', `pci-epf-test: MSI ${n} raised, but the host enabled ${enabled ? `MSI 1..${enabled}` : 'no MSI'}; not sent`);
        return;
      }
      this.msi!.fire(n - 1);
    } else if (type === IrqType.MSIX) {
      const count = this.msix?.count ?? 0;
      if (!this.msix?.enabled || n < 1 || n > count) {
        this.guestError('irq-index', `pci-epf-test: MSI-X ${n} raised, but ${this.msix?.enabled ? `the table has vectors 1..${count}` : 'MSI-X is not enabled'}; not sent`);
        return;
      }
      this.msix.fire(n - 1);
    } else {
      this.guestError('device-rule', `pci-epf-test: IRQ_TYPE ${type} is not 0 (INTx), 1 (MSI) or 2 (MSI-X); no interrupt`);
    }
  }

  /**
   * INTx as the test function raises it: a pulse (DesignWare endpoints
   * assert INTA and deassert it a moment later), since the host driver never
   * clears a cause. Through vfio the wire is an eventfd that the client
   * unmasks after the guest's EOI: the line stays up until the interrupt has
   * left, so a pulse raised while the previous one is still masked is not lost.
   * With Interrupt Disable set the function may not assert INTx (PCI 3.0
   * 6.2.2): that pulse is lost, not held for later.
   */
  private pulseIntx(): void {
    this.intxHeld = true;
    this.intx.assert();
  }

  // ---- inbound mapping: doorbell and BAR subranges (7.x) ------------------

  private enableDoorbell(): number {
    const m = this.memories.find((x) => x && x.size >= DOORBELL_OFFSET + 4);
    if (!m || m.doorbell) return Status.DOORBELL_ENABLE_FAIL;
    const data = randomInt(1, 0x10000);
    m.doorbell = {
      offset: DOORBELL_OFFSET, data,
      // The endpoint's MSI handler: say so in STATUS and interrupt the host
      // with what IRQ_TYPE/IRQ_NUMBER hold now.
      ring: () => {
        this.regs.set('STATUS', this.reg('STATUS') | Status.DOORBELL_SUCCESS);
        this.raise(this.reg('IRQ_TYPE'), this.reg('IRQ_NUMBER'));
      },
    };
    this.regs.set('DB_BAR', m.bar);
    this.regs.set('DB_OFFSET', DOORBELL_OFFSET);
    this.regs.set('DB_DATA', data);
    return Status.DOORBELL_ENABLE_SUCCESS;
  }

  private disableDoorbell(): number {
    const m = this.memories[this.reg('DB_BAR')];
    if (!m?.doorbell) return Status.DOORBELL_DISABLE_FAIL;
    m.doorbell = undefined;
    this.regs.set('DB_BAR', NO_BAR);
    return Status.DOORBELL_DISABLE_SUCCESS;
  }

  /** SIZE carries the BAR number for the subrange commands. */
  private subrangeSetup(bar: number): number {
    const m = this.memories[bar];
    if (!m || m.swapped || m.doorbell) {
      this.guestError('device-rule', `pci-epf-test: BAR_SUBRANGE_SETUP of BAR${bar}: ${m ? 'it is remapped already' : 'not a memory BAR of the function (BAR1..BAR5)'}`);
      return Status.BAR_SUBRANGE_SETUP_FAIL;
    }
    m.splitWithSignatures((sub) => 0x50 + bar * 8 + sub);
    return Status.BAR_SUBRANGE_SETUP_SUCCESS;
  }

  private subrangeClear(bar: number): number {
    const m = this.memories[bar];
    if (!m?.swapped) return Status.BAR_SUBRANGE_CLEAR_FAIL;
    m.swapped = false;
    return Status.BAR_SUBRANGE_CLEAR_SUCCESS;
  }
}
