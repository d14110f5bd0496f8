// The example DMA engine and its driver in a real guest: transfers of 1, 4
// and 16 MiB checked byte for byte, PCIe ordering of data before interrupt
// 1000 times over, the engine's local memory, INTx pulses, and a function
// reset cancelling a command in flight. With a vIOMMU the device's DMA to
// buffers of more than a page goes by message (each page is its own
// DMA_MAP); without one it goes through shared memory.
import test, { type ExecutionContext } from 'ava';
import { DMA_PIECE } from '../../src/dma/dma-space.ts';
import { eventually } from '../../src/lab/eventually.ts';
import { skipWithoutLab } from '../vm/guest-checks.ts';
import { DmaCopyBed } from './guest.ts';

const MiB = 1 << 20;

export interface DmaSuiteConfig {
  kernel: '6.12' | '7.3';
  iommu: boolean;
  /** Transfer sizes for fill, check and copy. */
  sizes: number[];
}

export function dmaCopySuite(cfg: DmaSuiteConfig): void {
  const label = `dma-copy on ${cfg.kernel}${cfg.iommu ? ' + vIOMMU (DMA by message)' : ' (shared memory)'}`;
  if (skipWithoutLab(label)) return;
  let dc: DmaCopyBed;

  test.before(async (t) => {
    dc = await DmaCopyBed.start({ kernel: cfg.kernel, iommu: cfg.iommu });
    t.log(`${label}: guest ready after ${dc.bed.vm.bootSeconds.toFixed(1)} s`);
  });
  test.after.always(async () => {
    await dc?.stop();
  });

  // Each check ends with the kernel-log watchdog (a splat fails the check
  // that caused it) and the device's guest errors: a correct driver makes none.
  const serial = (name: string, fn: (t: ExecutionContext) => Promise<void>) => test.serial(`${label}: ${name}`, async (t) => {
    await fn(t);
    await dc.bed.vm.kernelLog.check();
    const g = dc.device.clearGuestErrors();
    t.deepEqual(g.counts, {}, `guest errors:\n${g.recent.map((r) => `  ${r.kind}: ${r.message}`).join('\n')}`);
  });

  const clean = (t: ExecutionContext, r: { done: number; rounds: number; bad_words: number; errors: number; stale_rounds: number }, what: string) => {
    t.is(r.errors, 0, `${what}: no command failed or timed out`);
    t.is(r.done, r.rounds, `${what}: every round completed`);
    t.is(r.bad_words, 0, `${what}: every byte as expected`);
    t.is(r.stale_rounds, 0, `${what}: no handler saw old data`);
  };

  for (const size of cfg.sizes) {
    serial(`${size / MiB} MiB written by the device (fill), read by it (check) and copied by it (copy), every byte checked`, async (t) => {
      const before = { ...dc.tally };
      for (const op of ['fill', 'check', 'copy']) {
        const r = await dc.run(op, size, 1);
        clean(t, r, `${op} ${size / MiB} MiB`);
        t.log(`${op} ${size / MiB} MiB: ${(r.usecs / 1000).toFixed(0)} ms in the guest`);
      }
      const byMessage = dc.tally.bytes - before.bytes;
      if (cfg.iommu) {
        t.true(byMessage >= 4 * size, `${byMessage} bytes went by message: the four transfers (fill, check, copy's read and write)`);
        t.true(dc.tally.largest <= DMA_PIECE, `the largest DMA message carried ${dc.tally.largest} bytes`);
      }
    });
  }

  serial('a posted write of the buffer, then MSI-X at once, 1000 times: the handler always finds the new data', async (t) => {
    const waited = dc.device.dmaOrdering.waited;
    // 16 KiB: four pages, so with a vIOMMU the write spans mappings and goes by message.
    const r = await dc.run('order', 16384, 1000);
    clean(t, r, 'order');
    const held = dc.device.dmaOrdering.waited - waited;
    if (cfg.iommu) t.true(held >= 1000, `${held} interrupts waited for the writes before them`);
    else t.is(held, 0, 'shared memory: nothing to wait for');
    t.log(`1000 rounds in ${(r.usecs / 1000).toFixed(0)} ms (${(r.usecs / 1000).toFixed(0)} us a round)`);
  });

  serial('the engine\'s local memory (a BAR window): loaded by DMA, read by the CPU over MMIO, stored by DMA', async (t) => {
    clean(t, await dc.run('local', 4096, 2), 'local');
  });

  const largest = Math.max(...cfg.sizes);
  serial(`a function reset cancels a ${largest / MiB} MiB copy in flight: no completion, no DMA after it, and the next command works`, async (t) => {
    // The copy's write is held (a fault rule's delay) until the reset comes: the command is surely in flight.
    const HELD_MS = 3000;
    dc.device.faults.add({ on: 'dma', direction: 'write', action: { delay: HELD_MS }, count: 1 });
    t.teardown(() => dc.device.faults.clear());
    // In the background: the guest agent runs one command at a time.
    await dc.bed.vm.run(`rm -f /tmp/copy.rc; (echo copy ${largest} 1 > ${dc.debugfs}/run; echo $? > /tmp/copy.rc) >/dev/null 2>&1 &`, { check: true });
    await eventually('the copy to read its source and start writing', () => dc.device.faults.list().some((r) => r.applied === 1), { timeoutMs: 60_000 });
    const heldAt = Date.now();
    t.is(dc.device.regs.value('BUSY'), 1);
    await dc.bed.vm.run(`echo 1 > /sys/bus/pci/devices/${dc.bdf}/reset`, { check: true });
    await eventually('the run to return', async () => (await dc.bed.vm.run('cat /tmp/copy.rc')).stdout.trim() === '0', { timeoutMs: 60_000 });
    const r = await dc.result();
    t.is(r.aborted, 1, 'the driver was told (reset_prepare / reset_done)');
    t.is(r.done, 0);
    // Nothing can be waited for here: watch past the moment the held write
    // was due, after which an engine the reset did not stop would go on.
    const after = dc.accesses;
    await new Promise((res) => setTimeout(res, Math.max(500, heldAt + HELD_MS + 500 - Date.now())));
    t.is(dc.accesses, after, 'the engine stopped issuing DMA');
    t.is(dc.device.regs.value('BUSY'), 0);
    t.is(dc.device.regs.value('DONE_COUNT'), 0, 'the cancelled command never completed');
    dc.device.faults.clear();
    clean(t, await dc.run('fill', 4096, 2), 'fill after the reset');
  });

  serial('INTx: the engine pulses it (no cause to clear); every completion arrives once', async (t) => {
    await dc.reload('intx=1');
    const pulses = dc.device.counters.get('intx', 0, 'delivered');
    clean(t, await dc.run('fill', 4096, 20), 'fill with INTx');
    t.is(dc.device.counters.get('intx', 0, 'delivered') - pulses, 20, 'one signal per completion');
    const line = (await dc.bed.vm.run('grep dma_copy /proc/interrupts', { check: true })).stdout;
    t.regex(line, /IO-APIC.*fasteoi.*dma_copy/);
    await dc.reload('');
  });
}
