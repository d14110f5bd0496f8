// Posted writes that land late: held back (a 'late' fault rule on writes, or
// a window the device holds), they land in order when a read of the device
// arrives -- PCI's flush -- or a non-posted write, or after their delay. A
// write that is not held itself waits behind a held one. Observed through the
// TypeScript client on a real socket; DEVICE_GET_INFO is the sync point that
// is not a region access (it flushes nothing).
import test from 'ava';
import { join } from 'node:path';
import { Region } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, IMS_TABLE_OFFSET } from '../../src/devices/ims-queue.ts';
import { TraceRecorder } from '../../src/trace/index.ts';
import type { PostedRecord } from '../../src/trace/format.ts';
import * as R from '../../src/pci/regs.ts';
import { startDriven } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { records } from '../trace/helpers.ts';
import { RuleError } from '../../src/faults/rules.ts';

const rig = (t: { teardown(fn: () => void): void }, device?: ImsQueueDevice) => startDriven(t, device);

const ctrl = (s: number) => IMS_TABLE_OFFSET + s * 16 + 12;

test("a 'late' rule holds a posted write until a read of the device; writes behind it wait, in order", async (t) => {
  const { h, c } = await rig(t);
  h.device.faults.add({ on: 'write', region: 0, offset: Reg.SCRATCH, length: 4, action: 'late' });
  await c.write32(0, Reg.SCRATCH, 0x1111, { posted: true });
  await c.write32(0, Reg.DOORBELL, 7, { posted: true }); // not held itself, but may not pass the first
  await c.write32(0, Reg.SCRATCH, 0x2222, { posted: true });
  await c.deviceInfo();
  t.is(h.device.postedWrites.held, 3);
  t.is(h.device.regs.value('SCRATCH'), 0, 'the device has not seen the write yet');
  t.is(h.device.doorbellCount, 0, 'nor the one behind it');
  t.is(await c.read32(0, Reg.ID), 0x4c515249, 'the read is answered...');
  t.is(h.device.postedWrites.held, 0, '...after every held write landed');
  t.is(h.device.regs.value('SCRATCH'), 0x2222, 'in order: the last write wins');
  t.is(h.device.doorbellCount, 1);
  t.is(h.device.faults.list()[0].applied, 2, 'the rule held the two writes it matched');
});

test('{late: ms}: a held write lands after its delay without a read; a config write (non-posted) lands them at once', async (t) => {
  const { h, c } = await rig(t);
  h.device.faults.add({ on: 'write', region: 0, offset: Reg.SCRATCH, action: { late: 150 } });
  const t0 = Date.now();
  await c.write32(0, Reg.SCRATCH, 5, { posted: true });
  await c.deviceInfo();
  t.is(h.device.regs.value('SCRATCH'), 0);
  await eventually('the late write to land', () => h.device.regs.value('SCRATCH') === 5, 5000);
  t.true(Date.now() - t0 >= 140, 'not before its delay');
  h.device.faults.clear();
  h.device.faults.add({ on: 'write', region: 0, offset: Reg.SCRATCH, action: 'late' });
  await c.write32(0, Reg.SCRATCH, 6, { posted: true });
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  t.is(h.device.regs.value('SCRATCH'), 6, 'a config write may not pass a posted write either');
});

test('removing the rule lets what it held land; a device reset drops it', async (t) => {
  const { h, c } = await rig(t);
  const id = h.device.faults.add({ on: 'write', region: 0, action: 'late' });
  await c.write32(0, Reg.SCRATCH, 9, { posted: true });
  await c.deviceInfo();
  h.device.faults.remove(id);
  t.is(h.device.regs.value('SCRATCH'), 9);
  t.is(h.device.accessHooks.length, 0, 'no rule, no window: the buffer leaves the access path');
  h.device.faults.add({ on: 'write', region: 0, action: 'late' });
  const events: string[] = [];
  h.device.on('posted-write', (e) => events.push(e.event));
  await c.write32(0, Reg.SCRATCH, 10, { posted: true });
  await c.deviceInfo();
  await c.reset();
  t.is(h.device.postedWrites.held, 0);
  t.deepEqual(events, ['held', 'dropped'], 'held, then dropped by the reset: never applied');
  t.is(h.device.regs.value('SCRATCH'), 0, 'the reset came after the write; the write never landed');
});

test('late writes where no write is posted, or windows given wrong, are refused saying why', async (t) => {
  const { h } = await rig(t);
  t.throws(() => h.device.faults.add({ on: 'write', region: 7, action: 'late' }), { instanceOf: RuleError, message: /late write rule on region 7: its writes are not posted/ });
  t.throws(() => h.device.holdPostedWrites({ region: 0, length: 4 }), { instanceOf: RangeError, message: 'late posted writes: length goes with offset (without offset the whole region is held)' });
  t.throws(() => h.device.holdPostedWrites({ region: 0, ms: -1 }), { instanceOf: RangeError, message: 'late posted writes: ms must be a whole number >= 0, got -1' });
  t.is(h.device.faults.list().length, 0);
  t.false(h.device.postedWrites.holding);
});

test('a window the device holds: an IMS mask written without a flush is not in force when the slot fires; the flushing read puts it in force', async (t) => {
  const device = new ImsQueueDevice({ latePostedWrites: [{ region: 0, offset: IMS_TABLE_OFFSET, length: 64 * 16 }] });
  const { h, c } = await rig(t, device);
  const file = join(h.dir, 'late.trace');
  const rec = await TraceRecorder.open(file);
  rec.attach({ device: h.device });
  // The driver programs slot 2 and reads it back (a flush), then masks it without one.
  await c.write32(0, IMS_TABLE_OFFSET + 32, 0xfee00000, { posted: true });
  await c.write32(0, IMS_TABLE_OFFSET + 40, 0x42, { posted: true });
  await c.write32(0, ctrl(2), 0, { posted: true });
  await c.read32(0, ctrl(2));
  await c.write32(0, ctrl(2), 1, { posted: true });
  await c.deviceInfo();
  t.is(h.device.fireIms(2), 'delivered', 'the mask is still on its way: the interrupt leaves');
  await eventually('the message', () => c.memory.msis.length === 1);
  t.is((await c.read32(0, ctrl(2))) & 1, 1, 'the read lands the mask before it answers');
  t.is(h.device.fireIms(2), 'pending', 'now masked');
  await rec.close();
  const posted = (await records(file)).filter((r): r is PostedRecord => r.kind === 'posted').map((r) => [r.event, r.offset, r.value]);
  t.deepEqual(posted.slice(-2), [['held', ctrl(2), 1], ['applied', ctrl(2), 1]]);
  t.throws(() => h.device.holdPostedWrites({ region: 7 }), { instanceOf: RangeError, message: /region 7 is not a memory BAR of this device/ });
});
