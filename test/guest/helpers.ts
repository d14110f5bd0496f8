// Shared by the guest suites: waiting with deadlines, firing in rounds, and
// what the guest kernel shows of its interrupts.
import type { ExecutionContext } from 'ava';
import type { Testbed } from '../../src/lab/testbed.ts';
import type { GuestDriver } from '../../src/guest/driver.ts';
import { eventually as waitFor } from '../../src/lab/eventually.ts';

export interface GuestConfig {
  kernel: '6.12' | '7.3' | '6.12-debug' | '7.3-debug';
  iommu: boolean;
  cmdline?: string;
  /** Also run the system-memory IMS checks (needs a module reload). */
  sysmem?: boolean;
  /**
   * The guest translates the device's DMA (vIOMMU DMA remapping on): the
   * device then cannot read QEMU's emulated MSI-X table, so the PBA does not
   * show vectors QEMU holds (QEMU still holds and delivers them).
   */
  dmaTranslation?: boolean;
}

export type Serial = (name: string, fn: (t: ExecutionContext) => Promise<void>) => void;
export type FireRounds = (t: ExecutionContext, kind: 'queues' | 'msix', indexes: number[], rounds: number, fire: (i: number) => void) => Promise<void>;

/** What the checks of one configuration share: the booted guest and its driver view. */
export interface GuestCtx {
  serial: Serial;
  bed: () => Testbed;
  drv: () => GuestDriver;
  fireRounds: FireRounds;
  cfg: GuestConfig;
}

/** Polls a condition on the guest (reads take a round trip, so the default deadline is longer). */
export async function eventually(what: string, cond: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  await waitFor(what, cond, { timeoutMs: ms, intervalMs: 20 });
}

/**
 * The guest's /proc/interrupts lines that mention irqlab, without the
 * per-CPU counts ("34 irqlab-ims-0000:00:02.0 0-edge irqlab-lf0.0"), sorted.
 */
export async function irqlabInterrupts(bed: Testbed): Promise<string[]> {
  const text = (await bed.vm.readFile('/proc/interrupts')).toString();
  const [header, ...lines] = text.split('\n');
  const cpus = header.trim().split(/\s+/).length;
  return lines.filter((l) => l.includes('irqlab')).map((l) => {
    const f = l.trim().split(/\s+/);
    return [f[0].replace(/:$/, ''), ...f.slice(1 + cpus)].join(' ');
  }).sort();
}
