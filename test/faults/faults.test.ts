// Fault rules acting on a device served over a real socket, observed through
// the TypeScript client (no guest): each fault kind does what it says, is
// counted, and leaves the server serving.
import test from 'ava';
import { Region, IrqIndex, VfioError, Errno, Command } from '../../src/protocol/index.ts';
import { Reg, IMS_TABLE_OFFSET } from '../../src/devices/ims-queue.ts';
import * as R from '../../src/pci/regs.ts';
import { parseRule, RuleError } from '../../src/faults/rules.ts';
import { startServer, sleep, type Harness } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import type { VfioUserClient } from '../../src/client/index.ts';
import type { EventFd } from '../../ffi/index.ts';

interface Rig {
  h: Harness;
  c: VfioUserClient;
  evs: EventFd[];
}

/** A device with MSI-X enabled and unmasked through its table, IMS slots 0-3 programmed. */
async function rig(t: { teardown(fn: () => void): void }): Promise<Rig> {
  const h = startServer();
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, 0x6);
  await c.dmaMap(0x100000n, 0x10000);
  const evs = await c.bindEventfds(IrqIndex.MSIX, 0, 8);
  await c.write16(Region.CONFIG, h.device.caps.msix! + 2, R.PCI_MSIX_FLAGS_ENABLE);
  for (let v = 0; v < 8; v++) await c.write32(2, v * 16 + 12, 0);
  for (let s = 0; s < 4; s++) {
    await c.write32(0, IMS_TABLE_OFFSET + s * 16, 0xfee00000);
    await c.write32(0, IMS_TABLE_OFFSET + s * 16 + 8, 0x30 + s);
    await c.write32(0, IMS_TABLE_OFFSET + s * 16 + 12, 0);
  }
  return { h, c, evs };
}

const msiData = (c: VfioUserClient) => c.memory.msis.map((m) => m.data);

test('drop: the interrupt never leaves; count limits the rule; the fault is counted', async (t) => {
  const { h, c } = await rig(t);
  const id = h.device.faults.add({ on: 'irq', kind: 'ims', index: 1, action: 'drop', count: 1 });
  t.deepEqual([h.device.fireIms(1), h.device.fireIms(1), h.device.fireIms(2)], ['dropped', 'delivered', 'delivered']);
  await eventually('2 interrupt message(s)', () => c.memory.msis.length === 2);
  t.deepEqual(msiData(c), [0x31, 0x32], 'the two the device sent, no more');
  t.is(h.device.counters.get('ims', 1, 'dropped'), 1);
  t.is(h.device.faults.list().find((r) => r.id === id)!.applied, 1);
  t.true(h.device.faults.list()[0].expired);
});

test('delay: late, and in order with what follows on the same source', async (t) => {
  const { h, c } = await rig(t);
  h.device.faults.add({ on: 'irq', kind: 'ims', index: 0, action: { delay: 150 }, count: 1 });
  const t0 = Date.now();
  h.device.fireIms(0); // delayed
  h.device.fireIms(3); // another source: not held
  h.device.fireIms(0); // same source: waits behind the delayed one
  await eventually('3 interrupt message(s)', () => c.memory.msis.length === 3);
  t.deepEqual(msiData(c), [0x33, 0x30, 0x30]);
  t.true(c.memory.msis[1].at - t0 >= 140, 'the delayed one arrived late');
});

test('duplicate, spurious and ignore-mask', async (t) => {
  const { h, c, evs } = await rig(t);
  h.device.faults.add({ on: 'irq', kind: 'msix', index: 2, action: { duplicate: 2 }, count: 1 });
  h.device.fireMsix(2);
  await eventually('3 signal(s) on eventfd 2', () => evs[2].total === 3);
  t.is(h.device.queue(0).completed, 0);
  h.device.spurious('ims', 3);
  await eventually('1 interrupt message(s)', () => c.memory.msis.length === 1);
  t.is(c.memory.msis[0].data, 0x33, 'spurious: sent with no work completed');
  await c.write32(0, IMS_TABLE_OFFSET + 16 + 12, 1); // mask slot 1
  h.device.faults.add({ on: 'irq', kind: 'ims', index: 1, action: 'ignore-mask' });
  h.device.fireIms(1);
  await eventually('2 interrupt message(s)', () => c.memory.msis.length === 2);
  t.is(c.memory.msis[1].data, 0x31, 'delivered although masked');
});

test('misroute: an IMS message with the wrong data; an MSI-X interrupt on the wrong vector', async (t) => {
  const { h, c, evs } = await rig(t);
  h.device.faults.add({ on: 'irq', kind: 'ims', index: 0, action: { misroute: { data: 0x99, address: 0xfee01000n } } });
  h.device.fireIms(0);
  await eventually('1 interrupt message(s)', () => c.memory.msis.length === 1);
  t.is(c.memory.msis[0].data, 0x99);
  t.is(c.memory.msis[0].address, 0xfee01000n);
  h.device.faults.add({ on: 'irq', kind: 'msix', index: 4, action: { misroute: { vector: 5 } } });
  h.device.fireMsix(4);
  await eventually('1 signal(s) on eventfd 5', () => evs[5].total === 1);
  t.is(evs[4].total, 0);
});

test('stuck pending: a vector that was pending fires again at every unmask', async (t) => {
  const { h, c, evs } = await rig(t);
  h.device.faults.add({ on: 'irq', kind: 'msix', index: 6, action: 'stuck-pending' });
  await c.write32(2, 6 * 16 + 12, 1);
  h.device.fireMsix(6);
  t.true(h.device.msix!.pending(6));
  await c.write32(2, 6 * 16 + 12, 0);
  await eventually('1 signal(s) on eventfd 6', () => evs[6].total === 1);
  t.true(h.device.msix!.pending(6), 'still pending after delivery');
  await c.write32(2, 6 * 16 + 12, 1);
  await c.write32(2, 6 * 16 + 12, 0);
  await eventually('2 signal(s) on eventfd 6', () => evs[6].total === 2);
});

test('registers: reads all-ones or a fixed value, writes ignored, within an offset range', async (t) => {
  const { h, c } = await rig(t);
  h.device.faults.add({ on: 'read', region: 0, offset: Reg.ID, action: 'all-ones' });
  h.device.faults.add({ on: 'read', region: 0, offset: Reg.NUM_QUEUES, action: { value: 0x1234 } });
  h.device.faults.add({ on: 'write', region: 0, offset: Reg.SCRATCH, action: 'ignore' });
  t.is(await c.read32(0, Reg.ID), 0xffffffff);
  t.is(await c.read32(0, Reg.NUM_QUEUES), 0x1234);
  t.is(await c.read32(0, Reg.VERSION), 0x00010000, 'other registers untouched');
  await c.write32(0, Reg.SCRATCH, 5);
  t.is(await c.read32(0, Reg.SCRATCH), 0);
});

test('protocol: an error reply with the chosen errno, a late reply (in order), a closed connection', async (t) => {
  const { h, c } = await rig(t);
  h.device.faults.add({ on: 'command', command: 'REGION_READ', action: { error: 'EIO' }, count: 1 });
  const e = await t.throwsAsync(c.read32(0, 0), { instanceOf: VfioError });
  t.is((e as VfioError).errno, Errno.EIO);
  t.is(await c.read32(0, Reg.VERSION), 0x00010000);

  h.device.faults.add({ on: 'command', command: 'REGION_WRITE', action: { delay: 200 }, count: 1 });
  const t0 = Date.now();
  const w = c.write32(0, Reg.SCRATCH, 9);
  const r = c.read32(0, Reg.SCRATCH);
  t.is(await r, 9, 'the read after the delayed write sees it: order kept');
  await w;
  t.true(Date.now() - t0 >= 190);

  h.device.faults.add({ on: 'command', command: 'DEVICE_GET_INFO', action: 'close' });
  await t.throwsAsync(c.deviceInfo());
  await eventually('the session to end', () => h.server.session === null);
  const d = await h.connect();
  await t.throwsAsync(d.deviceInfo(), undefined, 'the rule is still in force for the next client');
  h.device.faults.clear();
  const e2 = await h.connect();
  t.is((await e2.deviceInfo()).numRegions, 9);
});

test('surprise removal: all-ones reads, ignored writes, REQ signalled, nothing else leaves', async (t) => {
  const { h, c, evs } = await rig(t);
  const [req] = await c.bindEventfds(IrqIndex.REQ, 0, 1);
  h.device.surpriseRemove();
  await eventually('the REQ eventfd', () => req.total === 1);
  t.is(await c.read32(0, Reg.ID), 0xffffffff);
  t.is(await c.configRead32(0), 0x0001f1ab, 'config space stays readable by default (QEMU aborts otherwise)');
  await c.write32(0, Reg.SCRATCH, 1);
  h.device.surpriseRemove({ config: true });
  t.is(await c.configRead32(0), 0xffffffff, 'all-ones config space on request');
  t.deepEqual([h.device.fireMsix(0), h.device.fireIms(0)], ['dropped', 'dropped'], 'nothing leaves a removed device');
  await c.read32(0, Reg.ID); // every message the device sent before this reply has arrived
  t.is(evs[0].total, 0);
  t.is(c.memory.msis.length, 0);
});

test('AER error: status bits in the AER and Express capabilities, header log, then ERR', async (t) => {
  const { h, c } = await rig(t);
  const [err] = await c.bindEventfds(IrqIndex.ERR, 0, 1);
  h.device.aerError({ bit: 20, header: [1, 2, 3, 4] });
  await eventually('the ERR eventfd', () => err.total === 1);
  const aer = h.device.caps.aer!;
  t.is(await c.configRead32(aer + R.PCI_ERR_UNCOR_STATUS), 1 << 20);
  t.is((await c.configRead32(aer + R.PCI_ERR_CAP)) & 0x1f, 20, 'first error pointer');
  t.is(await c.configRead32(aer + R.PCI_ERR_HEADER_LOG + 8), 3);
  t.truthy((await c.read16(Region.CONFIG, h.device.caps.pcie! + R.PCI_EXP_DEVSTA)) & R.PCI_EXP_DEVSTA_NFED);
  await c.configWrite32(aer + R.PCI_ERR_UNCOR_STATUS, 1 << 20);
  t.is(await c.configRead32(aer + R.PCI_ERR_UNCOR_STATUS), 0, 'software clears it (RW1C)');
});

test('skip, probability with a seed (replayable), and time windows', async (t) => {
  const { h } = await rig(t);
  const run = (seed: number) => {
    h.device.faults.clear();
    h.device.faults.add({ on: 'irq', kind: 'msix', index: 7, action: 'drop', probability: 0.5, seed });
    return Array.from({ length: 40 }, () => h.device.fireMsix(7) === 'dropped');
  };
  const a = run(42);
  t.deepEqual(run(42), a, 'same seed, same faults');
  t.notDeepEqual(run(7), a, 'another seed, other faults');
  t.true(a.filter(Boolean).length > 5 && a.filter(Boolean).length < 35);
  h.device.faults.clear();
  h.device.faults.add({ on: 'irq', kind: 'msix', index: 7, action: 'drop', skip: 2, count: 1 });
  const before = h.device.counters.get('msix', 7, 'dropped');
  for (let i = 0; i < 4; i++) h.device.fireMsix(7);
  t.is(h.device.counters.get('msix', 7, 'dropped'), before + 1);
  h.device.faults.clear();
  h.device.faults.add({ on: 'irq', kind: 'msix', index: 7, action: 'drop', fromMs: 100 });
  h.device.fireMsix(7);
  t.is(h.device.counters.get('msix', 7, 'dropped'), before + 1, 'not yet in force');
  await sleep(110);
  h.device.fireMsix(7);
  t.is(h.device.counters.get('msix', 7, 'dropped'), before + 2);
});

test('bad rules are refused with a message that says what is wrong', (t) => {
  t.throws(() => parseRule({ on: 'irq', action: 'explode' }), { instanceOf: RuleError, message: /interrupt action must be/ });
  t.throws(() => parseRule({ on: 'irq', kind: 'nmi', action: 'drop' }), { message: /irq kind must be one of/ });
  t.throws(() => parseRule({ on: 'command', command: 'FROB', action: 'close' }), { message: /unknown command "FROB"/ });
  t.throws(() => parseRule({ on: 'command', command: 'REGION_READ', action: { error: 'EWHAT' } }), { message: /unknown errno/ });
  t.throws(() => parseRule({ on: 'read', region: 0, action: 'ignore' }), { message: /read rule does all-ones/ });
  t.throws(() => parseRule({ on: 'irq', action: 'drop', probability: 2 }), { message: /probability must be a number in 0..1/ });
  t.throws(() => parseRule(null), { message: /an object with "on" and "action"/ });
  t.notThrows(() => parseRule({ on: 'command', command: Command.REGION_READ, action: { delay: 10 } }));
});
