// Posted writes that land late, against the real guest driver. The device
// holds every posted write to its IMS table until a read of the device
// arrives (PCI's flush), as a write buffer on the way to it may. The
// reference driver flushes what it relies on, so it works as before; the
// deliberately wrong variant (unflushed_mask=1) masks a slot with a posted
// write alone, and an interrupt the device raises after that mask returned
// still reaches the guest -- which the guest counts and the trace shows.
//
// `hwmask` masks the slot only (the kernel's irq stays enabled): through
// `mask`, disable_irq would make the kernel hold the late interrupt back
// itself, hiding the driver's mistake behind its own.
import test from 'ava';
import { join } from 'node:path';
import { Testbed } from '../../src/lab/testbed.ts';
import { fireInRounds } from '../../src/lab/rounds.ts';
import { ImsQueueDevice, IMS_TABLE_OFFSET } from '../../src/devices/ims-queue.ts';
import { IMS_SLOT_SIZE, IMS_CTRL } from '../../src/irq/ims.ts';
import { TraceRecorder } from '../../src/trace/index.ts';
import type { TraceRecord } from '../../src/trace/format.ts';
import type { GuestDriver } from '../../src/guest/driver.ts';
import { eventually } from './helpers.ts';
import { records } from '../trace/helpers.ts';

const SLOTS = 64;
const all = [0, 1, 2, 3, 4, 5, 6, 7];
const ctrlOf = (slot: number) => IMS_TABLE_OFFSET + slot * IMS_SLOT_SIZE + IMS_CTRL;

let bed: Testbed;
let drv: GuestDriver;

test.before(async () => {
  const device = new ImsQueueDevice({ latePostedWrites: [{ region: 0, offset: IMS_TABLE_OFFSET, length: SLOTS * IMS_SLOT_SIZE }] });
  bed = await Testbed.start({ kernel: '6.12', cpus: 2, device });
  drv = bed.driver!;
});
test.after.always(async () => {
  await bed?.stop();
});

/** Each check ends with the kernel-log watchdog and no guest errors, as the guest suites do. */
const serial = (name: string, fn: (t: import('ava').ExecutionContext) => Promise<void>) => test.serial(`6.12, IMS writes landing late: ${name}`, async (t) => {
  await fn(t);
  await bed.vm.kernelLog.check();
  const g = bed.device.clearGuestErrors();
  t.deepEqual(g.counts, {}, `guest errors:\n${g.recent.map((r) => `  ${r.kind}: ${r.message}`).join('\n')}`);
});

serial('the reference driver flushes what it relies on: every slot programmed, every queue counts its interrupts', async (t) => {
  const rows = await drv.queues();
  for (const r of rows) t.like(bed.device.ims.slot(r.index), { address: r.address, data: r.data, masked: false }, `slot ${r.index} as the guest composed it`);
  const { received } = await fireInRounds({ indexes: all, rounds: 3, fire: (q) => bed.device.complete(q, 1), counts: async () => (await drv.queues()).map((r) => r.count) });
  t.deepEqual(received, all.map(() => 3));
  t.is(bed.device.postedWrites.held, 0, 'nothing the driver wrote is still held');
});

/**
 * hwmask on queue q's slot, then a completion at once: returns whether the
 * interrupt reached the guest after the mask returned, and the trace of it.
 */
async function maskThenFire(t: import('ava').ExecutionContext, q: number): Promise<{ late: boolean; trace: TraceRecord[] }> {
  const slot = (await drv.queues())[q].index;
  const file = join(bed.vm.tempDir, `late-${q}.trace`);
  const rec = await TraceRecorder.open(file);
  rec.attach({ device: bed.device });
  const before = await drv.queueCount(q);
  const sent = bed.device.counters.get('ims', slot, 'delivered');
  await drv.ctl(`hwmask ims ${slot}`);
  // The mask returned. Whatever the driver did not flush is at most in the device's write buffer now.
  const unflushed = bed.device.postedWrites.held > 0 || !bed.device.ims.slot(slot).masked;
  if (unflushed) await eventually('the posted mask write in the device\'s write buffer', async () => bed.device.postedWrites.held > 0);
  const [outcome] = bed.device.complete(q, 1);
  let late = false;
  if (outcome === 'delivered') {
    await eventually('the interrupt in the guest', async () => (await drv.queueCount(q)) === before + 1);
    late = true;
  } else {
    t.is(outcome, 'pending', 'the mask was in force: the device held it');
    t.is(await drv.queueCount(q), before, 'nothing was sent, so nothing is counted');
  }
  // Any read lands what is held: the mask is in force from now on.
  await drv.regs();
  t.true(bed.device.ims.slot(slot).masked);
  t.deepEqual(bed.device.complete(q, 1), ['pending'], 'masked now, whichever driver');
  await drv.ctl(`hwunmask ims ${slot}`);
  await eventually('the held interrupt on unmask', async () => (await drv.queueCount(q)) === before + (late ? 2 : 1));
  t.is(bed.device.counters.get('ims', slot, 'delivered') - sent, late ? 2 : 1, 'sent as many as the guest counted');
  await rec.close();
  return { late, trace: await records(file) };
}

serial('the flushed driver: an interrupt raised after hwmask returned is held by the device, never delivered', async (t) => {
  t.is((await drv.info()).raw.unflushed_mask, '0');
  const { late } = await maskThenFire(t, 3);
  t.false(late);
});

serial('unflushed_mask=1: the mask is still on its way when the slot fires -- the guest counts an interrupt after its mask returned, and the trace shows why', async (t) => {
  await bed.reloadModule('unflushed_mask=1');
  t.teardown(() => bed.reloadModule(''));
  t.is((await drv.info()).raw.unflushed_mask, '1');
  const slot = (await drv.queues())[3].index;
  const { late, trace } = await maskThenFire(t, 3);
  t.true(late, 'an interrupt arrived after the mask returned');
  // held mask write -> interrupt sent through it -> the mask lands at the next read.
  const at = (pred: (r: TraceRecord) => boolean) => trace.findIndex(pred);
  const held = at((r) => r.kind === 'posted' && r.event === 'held' && r.offset === ctrlOf(slot) && r.value === 1);
  const sent = at((r) => r.kind === 'irq' && r.irq === 'ims' && r.index === slot && r.outcome === 'delivered');
  const landed = at((r) => r.kind === 'posted' && r.event === 'applied' && r.offset === ctrlOf(slot) && r.value === 1);
  t.true(held >= 0 && sent > held && landed > sent, `held ${held}, sent ${sent}, landed ${landed}`);
  t.regex(String((trace[landed] as { detail?: string }).detail), /^a read of region 0\+0x/);
});
