// Guest-side rows of `irqlab bench`: a Debian 6.12 guest under TCG drives the
// reference device through QEMU 11.1 -- MMIO reads, a posted-write storm (the
// rate the guest issues against the rate the server absorbs, with and
// without REGION_WRITE_MULTI), and interrupts the guest takes per second.
import { Testbed } from '../src/lab/testbed.ts';

export interface GuestBenchResult {
  mmioReadsPerSecond: number;
  storm: { writes: number; issuedPerSecond: number; absorbedPerSecond: number; readAfterMs: number };
  stormNoMulti?: { writes: number; issuedPerSecond: number; absorbedPerSecond: number; readAfterMs: number };
  /** Doorbell -> completion -> interrupt -> handler, one after the other. */
  ims: { perSecond: number; timeouts: number };
  msix: { perSecond: number; timeouts: number };
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

export async function runGuestBench(opts: { quick: boolean; progress: (line: string) => void }): Promise<GuestBenchResult> {
  const say = opts.progress;
  say('[bench] guest: booting Debian 6.12 against the reference device');
  const bed = await Testbed.start({ kernel: '6.12' });
  let result: GuestBenchResult;
  try {
    const reads = opts.quick ? 5000 : 20000;
    const r = await bed.driver!.loop('reads', reads);
    const mmioReadsPerSecond = reads / (r.loopNs / 1e9);
    const s = await storm(bed, opts.quick ? 3_000_000 : 15_000_000);
    say(`[bench] guest: ${Math.round(mmioReadsPerSecond)} MMIO reads/s; storm of ${s.writes} writes issued at ${Math.round(s.issuedPerSecond)}/s, absorbed at >= ${Math.round(s.absorbedPerSecond)}/s (read after: ${s.readAfterMs.toFixed(0)} ms)`);
    const n = opts.quick ? 1000 : 5000;
    const ims = await interruptRate(bed, 'ims', n);
    const msix = await interruptRate(bed, 'msix', n);
    say(`[bench] guest: ${Math.round(ims.perSecond)} IMS and ${Math.round(msix.perSecond)} MSI-X interrupts/s taken one after the other (${ims.timeouts + msix.timeouts} lost)`);
    result = { mmioReadsPerSecond, storm: s, ims, msix };
  } finally {
    await bed.stop();
  }
  if (!opts.quick) {
    say('[bench] guest: booting again without REGION_WRITE_MULTI (one message per posted write)');
    const bed2 = await Testbed.start({ kernel: '6.12', server: { limits: { writeMultiple: false } } });
    try {
      result.stormNoMulti = await storm(bed2, 2_000_000);
      say(`[bench] guest: without batching ${Math.round(result.stormNoMulti.issuedPerSecond)}/s issued, absorbed at >= ${Math.round(result.stormNoMulti.absorbedPerSecond)}/s`);
    } finally {
      await bed2.stop();
    }
  }
  return result;
}
