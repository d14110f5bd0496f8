// Guest errors: each kind provoked the way a driver would, through a real
// socket and the TypeScript client; counted by kind, kept among the last few,
// traced with their kind, and logged rate-limited. The device carries on.
import test from 'ava';
import { join } from 'node:path';
import { Region } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, IMS_TABLE_OFFSET, QUEUE_BASE, Q, Q_IRQ_IMS, Q_IRQ_ENABLE } from '../../src/devices/ims-queue.ts';
import { IMS_CTRL_PENDING } from '../../src/irq/ims.ts';
import { GuestErrors, GUEST_ERROR_KINDS } from '../../src/device/guest-errors.ts';
import { TraceRecorder } from '../../src/trace/index.ts';
import { records } from '../trace/helpers.ts';
import * as R from '../../src/pci/regs.ts';
import { startDriven } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import type { VfioUserClient } from '../../src/client/index.ts';

const slot = (s: number, field = 0) => IMS_TABLE_OFFSET + s * 16 + field;

/** A client with decoding and bus mastering on, guest memory mapped for IMS messages. */
const rig = (t: { teardown(fn: () => void): void }, device?: ImsQueueDevice) => startDriven(t, device);

/** Programs slot s with a message (while masked, as a driver should), then unmasks it. */
async function program(c: VfioUserClient, s: number, address: number, data: number) {
  await c.write32(0, slot(s, 0), address);
  await c.write32(0, slot(s, 4), 0);
  await c.write32(0, slot(s, 8), data);
  await c.write32(0, slot(s, 12), 0);
}

test('a clean run has no guest errors: guestErrors() is empty', async (t) => {
  const { h, c } = await rig(t);
  await program(c, 0, 0xfee00000, 0x41);
  h.device.fireIms(0);
  await eventually('the message', () => c.memory.msis.length === 1);
  t.deepEqual(h.device.guestErrors(), { total: 0, counts: {}, recent: [] });
});

test('decode-off, access-size, read-only, device-rule: counted by kind, the access answered as hardware does', async (t) => {
  const { h, c } = await rig(t);
  t.is(await c.read16(0, Reg.ID), 0xffff, 'a 2-byte read of a 4-byte-only map reads all-ones');
  await c.write32(0, Reg.ID, 0x1234);
  t.is(await c.read32(0, Reg.ID), 0x4c515249, 'the read-only register kept its value');
  await c.write32(0, QUEUE_BASE + Q.DOORBELL, 5000);
  t.is(h.device.queue(0).submitted, 0, 'more work than the queue holds is refused');
  await c.write16(Region.CONFIG, R.PCI_COMMAND, 0);
  t.is(await c.read32(0, Reg.ID), 0xffffffff, 'memory decoding off: all-ones');
  await c.write32(0, Reg.SCRATCH, 1);
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY);
  t.is(await c.read32(0, Reg.SCRATCH), 0, 'the write while decoding was off was dropped');
  const g = h.device.guestErrors();
  t.deepEqual(g.counts, { 'access-size': 1, 'read-only': 1, 'device-rule': 1, 'decode-off': 2 });
  t.is(g.total, 5);
  t.deepEqual(g.recent.map((r) => r.kind), ['access-size', 'read-only', 'device-rule', 'decode-off', 'decode-off']);
  t.regex(g.recent[1].message, /BAR0\+0x0 registers: write of 0x1234 to ID \(0x0\), a read-only register; ignored/);
  t.regex(g.recent[3].message, /read of BAR0\+0x0 while its decoding is off/);
  t.deepEqual(h.device.clearGuestErrors().counts, g.counts, 'clear returns what was there');
  t.deepEqual(h.device.guestErrors().counts, {}, 'and counts from zero');
});

test('irq-index: a queue routed by the driver to a vector or slot that does not exist; IMS_UNMASK of a missing slot', async (t) => {
  const { h, c } = await rig(t);
  await c.write32(0, QUEUE_BASE + Q.IRQ, (Q_IRQ_IMS | Q_IRQ_ENABLE | 99) >>> 0);
  await c.write32(0, QUEUE_BASE + Q.DOORBELL, 1);
  await c.write32(0, QUEUE_BASE + 0x20 + Q.IRQ, (Q_IRQ_ENABLE | 8) >>> 0);
  await c.write32(0, QUEUE_BASE + 0x20 + Q.DOORBELL, 1);
  await c.write32(0, Reg.IMS_UNMASK, 64);
  t.is(h.device.queue(0).completed, 1, 'the work completed; only its interrupt had nowhere to go');
  const g = h.device.guestErrors();
  t.deepEqual(g.counts, { 'irq-index': 3 });
  t.deepEqual(g.recent.map((r) => r.message), [
    "queue 0's interrupt route (Q_IRQ): IMS slot 99 does not exist (valid: 0..63)",
    "queue 1's interrupt route (Q_IRQ): MSI-X vector 8 does not exist (valid: 0..7)",
    'IMS_UNMASK names IMS slot 64, which does not exist (valid: 0..63); ignored',
  ]);
  t.is(h.device.counters.total('ims', 'delivered') + h.device.counters.total('msix', 'delivered'), 0, 'nothing was sent, nothing wrapped onto another vector');
});

test('ims-torn-write: a live slot rewritten one dword at a time; masked around it, or whole in one access, is fine', async (t) => {
  const { h, c } = await rig(t);
  await program(c, 1, 0xfee00000, 0x31);
  t.deepEqual(h.device.guestErrors().counts, {}, 'programmed while masked: fine');
  await c.write32(0, slot(1, 0), 0xfee01000);
  t.deepEqual(h.device.guestErrors().counts, { 'ims-torn-write': 1 });
  t.regex(h.device.guestErrors().recent[0].message, /IMS slot 1 is unmasked while software rewrites its message one piece at a time .*0xfee00000\/0x31 -> 0xfee01000\/0x31/);
  // The right way: mask, rewrite, unmask -- or the whole message in one access.
  await c.write32(0, slot(1, 12), 1);
  await c.write32(0, slot(1, 0), 0xfee00000);
  await c.write32(0, slot(1, 8), 0x32);
  await c.write32(0, slot(1, 12), 0);
  const whole = new Uint8Array(16);
  new DataView(whole.buffer).setUint32(0, 0xfee02000, true);
  new DataView(whole.buffer).setUint32(8, 0x33, true);
  await c.regionWrite(0, slot(1), whole);
  await c.write32(0, slot(1, 12), 0); // unchanged message: no error
  t.deepEqual(h.device.guestErrors().counts, { 'ims-torn-write': 1 });
  h.device.fireIms(1);
  await eventually('the message', () => c.memory.msis.length === 1);
  t.like(c.memory.msis[0], { address: 0xfee02000n, data: 0x33 });
});

test('ims-bad-message: an unmasked slot fired with an address outside the MSI window, or none', async (t) => {
  const { h, c } = await rig(t);
  await program(c, 2, 0x100800, 0x42); // guest RAM, not the APIC
  await c.write32(0, slot(3, 12), 0); // unmasked, never programmed
  t.is(h.device.fireIms(2), 'delivered', 'hardware writes where it is told');
  t.is(h.device.fireIms(3), 'unbound');
  t.deepEqual(h.device.guestErrors().counts, { 'ims-bad-message': 2 });
  t.deepEqual(h.device.guestErrors().recent.map((r) => r.message), [
    'IMS slot 2 fired, unmasked, with message address 0x100800, outside the MSI window 0xfee00000..0xfeefffff',
    'IMS slot 3 fired, unmasked, with message address 0x0, outside the MSI window 0xfee00000..0xfeefffff (never programmed, or cleared)',
  ]);
  // A masked slot holds its interrupt: its message is not used, no error.
  await c.write32(0, slot(4, 0), 0x1234);
  h.device.fireIms(4);
  t.is(h.device.guestErrors().total, 2);
});

test('ims-stale-pending: a slot freed with an interrupt still held; the W1C pending bit discards it first', async (t) => {
  const { h, c } = await rig(t);
  for (const s of [5, 6]) {
    await program(c, s, 0xfee00000, 0x50 + s);
    await c.write32(0, slot(s, 12), 1);
    h.device.fireIms(s);
    t.true(h.device.ims.slot(s).pending);
    t.is((await c.read32(0, slot(s, 12))) & IMS_CTRL_PENDING, IMS_CTRL_PENDING, 'the guest reads the pending bit');
  }
  // Slot 5 freed as a driver that forgets the held interrupt: cleared, still pending.
  await c.regionWrite(0, slot(5), new Uint8Array(12));
  t.deepEqual(h.device.guestErrors().counts, { 'ims-stale-pending': 1 });
  t.true(h.device.ims.slot(5).pending, 'the next owner would get it on unmask');
  // Slot 6 freed as irqlab.ko does: masked with the pending bit written 1, then cleared.
  await c.write32(0, slot(6, 12), 1 | IMS_CTRL_PENDING);
  t.false(h.device.ims.slot(6).pending, 'discarded');
  await c.regionWrite(0, slot(6), new Uint8Array(12));
  t.is(h.device.guestErrors().total, 1, 'no error for slot 6');
  t.is(h.device.counters.get('ims', 6, 'discarded'), 1, 'the discard is counted (and traced) as an outcome');
});

test('guest errors are traced with their kind', async (t) => {
  const { h, c } = await rig(t);
  const file = join(h.dir, 'ge.trace');
  const rec = await TraceRecorder.open(file);
  rec.attach({ device: h.device });
  await c.write32(0, Reg.VERSION, 7);
  await rec.close();
  const recs = (await records(file)).filter((r) => r.kind === 'guest-error');
  t.like(recs, [{ guestError: 'read-only', message: 'BAR0+0x0 registers: write of 0x7 to VERSION (0x4), a read-only register; ignored' }]);
});

test('a flood of guest errors is logged as the first few lines per kind, then one summary per interval, and all are counted', async (t) => {
  const device = new ImsQueueDevice({ guestErrorLog: { firstN: 5, intervalMs: 200 } });
  const { h, c } = await rig(t, device);
  await c.write16(Region.CONFIG, R.PCI_COMMAND, 0);
  const n = 20_000;
  const t0 = Date.now();
  for (let i = 0; i < n; i++) c.write32(0, Reg.SCRATCH, i, { posted: true }).catch(() => {});
  await c.read32(0, Reg.ID); // ordered after every posted write
  t.is(h.device.guestErrors().counts['decode-off'], n + 1);
  const summarised = () => h.logs.reduce((sum, l) => sum + Number(/decode-off\): (\d+) more not logged/.exec(l)?.[1] ?? 0), 0);
  await eventually('summaries of every error not logged', () => summarised() === n + 1 - 5, 5000);
  const intervals = Math.ceil((Date.now() - t0) / 200);
  const lines = h.logs.filter((l) => l.startsWith('guest error'));
  t.true(lines.length <= 5 + intervals, `${lines.length} log lines for ${n + 1} guest errors over ${intervals} intervals:\n${lines.join('\n')}`);
  t.regex(lines[4], /\[further decode-off errors are summarised every 0\.2 s\]$/);
});

test('GuestErrors on its own: every kind has a description; recent keeps the last few', (t) => {
  const lines: string[] = [];
  const g = new GuestErrors((l) => lines.push(l), { firstN: 1, keep: 2 });
  for (const k of Object.keys(GUEST_ERROR_KINDS) as (keyof typeof GUEST_ERROR_KINDS)[]) g.record(k, `one ${k}`);
  t.is(lines.length, Object.keys(GUEST_ERROR_KINDS).length, 'the first of each kind is logged');
  g.record('read-only', 'again');
  t.deepEqual(g.snapshot().recent.map((r) => r.message), ['one device-rule', 'again']);
  g.summarise();
  t.is(lines.at(-1), 'guest error (read-only): 1 more not logged; the last: again');
});
