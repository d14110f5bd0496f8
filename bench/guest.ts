// Guest-side rows of `irqlab bench`: a Debian 6.12 guest under TCG drives the
// reference device through QEMU 11.1 -- MMIO reads, a posted-write storm (the
// rate the guest issues against the rate the server absorbs, with and
// without REGION_WRITE_MULTI), and interrupts the guest takes per second.
// Reads and interrupts are measured with the server in its default mode and
// in poll mode, interleaved in the same guest (the window is switched live),
// medians over the rounds.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Testbed } from '../src/lab/testbed.ts';
import { labHome } from '../src/vm/index.ts';
import { DmaCopyDevice } from '../examples/dma-copy-device.ts';
import { median } from './report.ts';

/** One mode's figures in one round. */
export interface GuestModeRound {
  pollUs: number;
  mmioReadsPerSecond: number;
  ims: { perSecond: number; timeouts: number };
  msix: { perSecond: number; timeouts: number };
}

export interface GuestBenchResult {
  /** Medians of the default mode's rounds. */
  mmioReadsPerSecond: number;
  /** The same in poll mode. */
  poll: { pollUs: number; mmioReadsPerSecond: number; ims: { perSecond: number; timeouts: number }; msix: { perSecond: number; timeouts: number } };
  rounds: GuestModeRound[];
  storm: { writes: number; issuedPerSecond: number; absorbedPerSecond: number; readAfterMs: number };
  stormNoMulti?: { writes: number; issuedPerSecond: number; absorbedPerSecond: number; readAfterMs: number };
  /** Doorbell -> completion -> interrupt -> handler, one after the other. */
  ims: { perSecond: number; timeouts: number };
  msix: { perSecond: number; timeouts: number };
  /** The example DMA engine behind a vIOMMU: a posted write of a buffer, then MSI-X, round after round (ordering on and off, alternated). */
  ordering?: OrderingCost;
}

export interface OrderingCost {
  rounds: number;
  /** Guest round time (command, DMA, interrupt, handler), median over the runs. */
  orderedUsPerRound: number;
  unorderedUsPerRound: number;
  /** How long an interrupt was held for the writes before it (the flushing read), mean over every run. */
  heldUsPerInterrupt: number;
  /** Rounds whose handler found old data with ordering off (all runs). */
  unorderedStaleRounds: number;
  unorderedRounds: number;
}

async function storm(bed: Testbed, n: number) {
  const r = await bed.driver!.loop('storm', n);
  return { writes: n, issuedPerSecond: n / (r.loopNs / 1e9), absorbedPerSecond: n / ((r.loopNs + r.readNs) / 1e9), readAfterMs: r.readNs / 1e6 };
}

/**
 * Interrupts the guest takes one after the other: its driver rings a queue's
 * doorbell and waits for the interrupt the completion raises (the "pingpong"
 * loop in the guest module), n times. Queue 0 is routed to IMS or to MSI-X.
 */
async function interruptRate(bed: Testbed, route: 'ims' | 'msix', n: number): Promise<{ perSecond: number; timeouts: number }> {
  await bed.driver!.ctl(`route 0 ${route}`);
  const r = await bed.driver!.loop('pingpong', n, { queue: 0 });
  await bed.driver!.ctl('route 0 ims');
  return { perSecond: n / (r.loopNs / 1e9), timeouts: r.value };
}

/**
 * What PCIe ordering costs an interrupt: the example DMA engine and its
 * driver behind a vIOMMU (the 16 KiB buffer spans mappings, so the write goes
 * by message); the driver's "order" rounds write the buffer by posted DMA and
 * raise MSI-X at once, the handler checks the data. Ordering on and off,
 * alternated; off shows what it prevents.
 */
export async function orderingCost(opts: { quick: boolean; progress: (line: string) => void }): Promise<OrderingCost | undefined> {
  const module = join(labHome(), 'modules', '6.12', 'dma_copy.ko');
  if (!existsSync(module)) {
    opts.progress(`[bench] guest: ${module} is not built (make setup): no ordering rows`);
    return undefined;
  }
  opts.progress('[bench] guest: booting Debian 6.12 with a vIOMMU against the example DMA engine (ordering rows)');
  const device = new DmaCopyDevice();
  const bed = await Testbed.start({ kernel: '6.12', iommu: true, cpus: 2, device, modules: [module] });
  try {
    await bed.vm.insmod('dma_copy.ko');
    const dir = `/sys/kernel/debug/dma_copy/${(await bed.vm.run('ls /sys/kernel/debug/dma_copy', { check: true })).stdout.trim()}`;
    const rounds = opts.quick ? 300 : 1000;
    const runs = opts.quick ? 2 : 3;
    const ordered: number[] = [];
    const unordered: number[] = [];
    let held = 0;
    let heldUs = 0;
    let stale = 0;
    for (let i = 0; i < runs; i++) {
      for (const on of [true, false]) {
        device.dmaOrdering.enabled = on;
        const w = device.dmaOrdering.waited;
        const h = device.dmaOrdering.heldUs;
        await bed.vm.run(`echo order 16384 ${rounds} > ${dir}/run`, { check: true, timeoutMs: 300_000 });
        const r = Object.fromEntries((await bed.vm.readFile(`${dir}/result`)).toString().trim().split(/\s+/).reduce<string[][]>((a, x, j, all) => (j % 2 ? a : [...a, [x, all[j + 1]]]), []));
        if (Number(r.done) !== rounds) throw new Error(`order run ended after ${r.done} of ${rounds} rounds`);
        (on ? ordered : unordered).push(Number(r.usecs) / rounds);
        if (on) {
          held += device.dmaOrdering.waited - w;
          heldUs += device.dmaOrdering.heldUs - h;
        } else {
          stale += Number(r.stale_rounds);
        }
      }
    }
    const cost: OrderingCost = {
      rounds, orderedUsPerRound: median(ordered) ?? 0, unorderedUsPerRound: median(unordered) ?? 0,
      heldUsPerInterrupt: held ? heldUs / held : 0, unorderedStaleRounds: stale, unorderedRounds: runs * rounds,
    };
    opts.progress(`[bench] guest: write then MSI-X, ${cost.orderedUsPerRound.toFixed(0)} us a round ordered, ${cost.unorderedUsPerRound.toFixed(0)} us unordered (${stale} of ${runs * rounds} rounds saw old data); held ${cost.heldUsPerInterrupt.toFixed(0)} us an interrupt`);
    return cost;
  } finally {
    device.dmaOrdering.enabled = true;
    await bed.stop();
  }
}

async function measureMode(bed: Testbed, pollUs: number, reads: number, n: number): Promise<GuestModeRound> {
  bed.server.pollUs = pollUs;
  const r = await bed.driver!.loop('reads', reads);
  const mmioReadsPerSecond = reads / (r.loopNs / 1e9);
  const ims = await interruptRate(bed, 'ims', n);
  const msix = await interruptRate(bed, 'msix', n);
  return { pollUs, mmioReadsPerSecond, ims, msix };
}

function medians(rounds: GuestModeRound[]) {
  const m = (f: (r: GuestModeRound) => number) => median(rounds.map(f)) ?? 0;
  const sum = (f: (r: GuestModeRound) => number) => rounds.reduce((a, r) => a + f(r), 0);
  return {
    mmioReadsPerSecond: m((r) => r.mmioReadsPerSecond),
    ims: { perSecond: m((r) => r.ims.perSecond), timeouts: sum((r) => r.ims.timeouts) },
    msix: { perSecond: m((r) => r.msix.perSecond), timeouts: sum((r) => r.msix.timeouts) },
  };
}

export async function runGuestBench(opts: { quick: boolean; pollUs: number; progress: (line: string) => void }): Promise<GuestBenchResult> {
  const say = opts.progress;
  say('[bench] guest: booting Debian 6.12 against the reference device');
  // pollUs 0 said explicitly: $IRQLAB_POLL_US must not turn the default mode into poll mode.
  const bed = await Testbed.start({ kernel: '6.12', pollUs: 0 });
  let result: GuestBenchResult;
  try {
    const reads = opts.quick ? 5000 : 20000;
    const n = opts.quick ? 1000 : 3000;
    const rounds: GuestModeRound[] = [];
    await bed.driver!.loop('reads', reads / 5); // warm-up
    for (let i = 0; i < (opts.quick ? 2 : 3); i++) {
      // Interleaved, the first mode alternating from round to round.
      for (const pollUs of i % 2 ? [opts.pollUs, 0] : [0, opts.pollUs]) {
        const r = await measureMode(bed, pollUs, reads, n);
        rounds.push(r);
        say(`[bench] guest round ${i + 1}, ${pollUs ? `poll mode (${pollUs} us)` : 'default mode'}: ${Math.round(r.mmioReadsPerSecond)} MMIO reads/s, ${Math.round(r.ims.perSecond)} IMS and ${Math.round(r.msix.perSecond)} MSI-X interrupts/s taken one after the other (${r.ims.timeouts + r.msix.timeouts} lost)`);
      }
    }
    bed.server.pollUs = 0;
    const s = await storm(bed, opts.quick ? 3_000_000 : 15_000_000);
    say(`[bench] guest: storm of ${s.writes} writes issued at ${Math.round(s.issuedPerSecond)}/s, absorbed at >= ${Math.round(s.absorbedPerSecond)}/s (read after: ${s.readAfterMs.toFixed(0)} ms)`);
    const def = medians(rounds.filter((r) => r.pollUs === 0));
    result = { ...def, storm: s, poll: { pollUs: opts.pollUs, ...medians(rounds.filter((r) => r.pollUs !== 0)) }, rounds };
  } finally {
    await bed.stop();
  }
  if (!opts.quick) {
    say('[bench] guest: booting again without REGION_WRITE_MULTI (one message per posted write)');
    const bed2 = await Testbed.start({ kernel: '6.12', pollUs: 0, server: { limits: { writeMultiple: false } } });
    try {
      result.stormNoMulti = await storm(bed2, 2_000_000);
      say(`[bench] guest: without batching ${Math.round(result.stormNoMulti.issuedPerSecond)}/s issued, absorbed at >= ${Math.round(result.stormNoMulti.absorbedPerSecond)}/s`);
    } finally {
      await bed2.stop();
    }
  }
  result.ordering = await orderingCost(opts);
  return result;
}
