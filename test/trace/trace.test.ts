// Recording a real session (a TypeScript client against the reference device
// on a real socket) and reading it back: what is in the trace, in what order,
// with which fields; filters; the CLI's timeline and summary; traces whose
// writer was stopped short.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import { Command, Region, IrqIndex, FLAG_NO_REPLY } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, IRQLAB_VENDOR_ID, IRQLAB_DEVICE_ID } from '../../src/devices/ims-queue.ts';
import * as R from '../../src/pci/regs.ts';
import {
  TraceRecorder, parseFilter, matches, FilterError, TraceFormatError, readTrace,
  type TraceRecord, type MsgRecord, type IrqRecord, type DmaRecord, type TraceHeader,
} from '../../src/trace/index.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { tempDir, records, recordSession, IMS_SLOT, IMS_ADDRESS, IMS_DATA, MSIX_VECTOR } from './helpers.ts';

const tmp = tempDir();
const sessionFile = join(tmp.dir, 'session.trace');
let session: TraceRecord[];

test.before(async () => {
  await recordSession(sessionFile);
  session = await records(sessionFile);
});
test.after.always(() => tmp.remove());

const msgs = () => session.filter((r): r is MsgRecord => r.kind === 'msg');
const findMsg = (pred: (m: MsgRecord) => boolean) => {
  const m = msgs().find(pred);
  if (!m) throw new Error('no such message in the trace');
  return m;
};
const indexOf = (r: TraceRecord) => session.indexOf(r);

test('the header comes first: format, irqlab version, device ids, start time', (t) => {
  const h = session[0] as TraceHeader;
  t.is(h.kind, 'header');
  t.is(h.format, 'irqlab-trace');
  t.is(h.irqlab, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  t.like(h.device, { name: 'ims-queue', vendor: IRQLAB_VENDOR_ID, device: IRQLAB_DEVICE_ID });
  t.true(Math.abs(Date.parse(h.startedAt) - Date.now()) < 60_000);
  t.deepEqual(Object.keys(h.fields).sort(), ['dma', 'drop', 'end', 'fault', 'guest-error', 'irq', 'msg', 'posted', 'reset', 'session'].sort());
});

test('the session: connect with the client pid first, disconnect before the end record; times in microseconds, in order', (t) => {
  const kinds = session.map((r) => r.kind);
  t.deepEqual(kinds.slice(0, 3), ['header', 'session', 'msg']);
  t.like(session[1], { kind: 'session', event: 'connect', pid: process.pid, uid: process.getuid!() });
  t.like(session.at(-2), { kind: 'session', event: 'disconnect', pid: process.pid });
  t.like(session.at(-1), { kind: 'end', records: session.length - 2, dropped: 0 });
  for (let i = 1; i < session.length; i++) {
    t.true(Number.isInteger(session[i].t), 'integer microseconds');
    t.true(session[i].t >= session[i - 1].t, `record ${i} is not before record ${i - 1}`);
  }
  t.true(session.at(-1)!.t < 60e6, 'relative to the start, in microseconds');
});

test('every message in and out, VERSION first; every command that wants a reply has one, posted writes none', (t) => {
  const all = msgs();
  t.like(all[0], { dir: 'in', commandName: 'VERSION', type: 'command', id: all[1].id });
  t.like(all[1], { dir: 'out', commandName: 'VERSION', type: 'reply' });
  t.is(all[0].summary?.major, 0);
  t.is((all[1].summary?.capabilities as { max_msg_fds?: number }).max_msg_fds !== undefined, true, 'the negotiated capabilities');
  for (const m of all.filter((x) => x.type === 'command')) {
    const replies = all.filter((x) => x.type === 'reply' && x.id === m.id && x.command === m.command && x.dir !== m.dir);
    t.is(replies.length, m.noReply ? 0 : 1, `${m.commandName} #${m.id}`);
  }
});

test('a config read: region, offset and count in the request, the value in the reply', (t) => {
  const req = findMsg((m) => m.command === Command.REGION_READ && m.dir === 'in' && m.summary?.region === Region.CONFIG && m.summary?.offset === 0);
  t.like(req, { size: 16 + 16, fds: 0, errno: 0, error: false, noReply: false });
  t.deepEqual(req.summary, { region: Region.CONFIG, offset: 0, count: 4 });
  const reply = findMsg((m) => m.type === 'reply' && m.id === req.id && m.command === Command.REGION_READ);
  t.is(reply.dir, 'out');
  t.is(reply.summary?.value, (IRQLAB_DEVICE_ID << 16 | IRQLAB_VENDOR_ID) >>> 0);
  t.true(indexOf(reply) > indexOf(req));
});

test('a posted BAR write: NO_REPLY, the value written, and the read after it sees it', (t) => {
  const w = findMsg((m) => m.command === Command.REGION_WRITE && m.summary?.region === 0 && m.summary?.offset === Reg.SCRATCH);
  t.true(w.noReply);
  t.is(w.flags & FLAG_NO_REPLY, FLAG_NO_REPLY);
  t.like(w.summary, { count: 4, value: 0x1234abcd });
  const read = findMsg((m) => m.type === 'reply' && m.command === Command.REGION_READ && m.summary?.offset === Reg.SCRATCH);
  t.is(read.summary?.value, 0x1234abcd);
});

test('SET_IRQS carries its eventfds; the MSI-X fire is an irq record', (t) => {
  const set = findMsg((m) => m.command === Command.DEVICE_SET_IRQS && m.dir === 'in');
  t.is(set.fds, 4);
  t.like(set.summary, { index: IrqIndex.MSIX, start: 0, count: 4 });
  const irq = session.find((r): r is IrqRecord => r.kind === 'irq' && r.irq === 'msix');
  t.like(irq, { index: MSIX_VECTOR, outcome: 'delivered' });
  t.is(irq!.address, undefined, 'eventfd delivery has no message');
  t.true(indexOf(irq!) > indexOf(set));
});

test('an IMS fire: the DMA_WRITE the device sends, a dma record, and the irq record with address and data', (t) => {
  const write = findMsg((m) => m.command === Command.DMA_WRITE && m.dir === 'out' && m.type === 'command');
  t.like(write.summary, { address: Number(IMS_ADDRESS), count: 4, value: IMS_DATA });
  const dma = session.find((r): r is DmaRecord => r.kind === 'dma');
  t.like(dma, { op: 'write', id: write.id, address: Number(IMS_ADDRESS), count: 4, value: IMS_DATA });
  const irq = session.find((r): r is IrqRecord => r.kind === 'irq' && r.irq === 'ims');
  t.like(irq, { index: IMS_SLOT, outcome: 'delivered', address: Number(IMS_ADDRESS), data: IMS_DATA });
  t.deepEqual([indexOf(write), indexOf(dma!)], [indexOf(dma!) - 1, indexOf(write) + 1], 'the dma record follows its message');
});

test('DEVICE_RESET: the command, the reset record, the reply; the reset after the client left', (t) => {
  const cmd = findMsg((m) => m.command === Command.DEVICE_RESET && m.type === 'command');
  const resets = session.filter((r) => r.kind === 'reset');
  t.is(resets.length, 2);
  t.true(indexOf(resets[0]) > indexOf(cmd));
  const reply = findMsg((m) => m.command === Command.DEVICE_RESET && m.type === 'reply');
  t.true(indexOf(reply) > indexOf(resets[0]));
  t.true(indexOf(resets[1]) > indexOf(reply));
});

test('attach alone taps a server built without the tap; a tap already there keeps its messages and nothing is recorded twice', async (t) => {
  const d = tempDir();
  t.teardown(() => d.remove());
  const file = join(d.dir, 'attach.trace');
  let seen = 0;
  const rec = await TraceRecorder.open(file);
  const h = startServer(new ImsQueueDevice(), { tap: () => { seen++; } });
  t.teardown(() => h.close());
  rec.attach({ server: h.server });
  rec.attach({ server: h.server }); // twice: still one tap
  const c = await h.connect();
  await c.configRead32(0);
  await c.write32(Region.CONFIG, R.PCI_COMMAND, 0x2);
  h.device.fireMsix(0);
  c.close();
  await eventually('the session to end', () => h.server.session === null);
  await rec.close();
  const recs = await records(file);
  t.is(recs.filter((r) => r.kind === 'msg').length, seen);
  t.is(seen, 6, 'VERSION, read, write and their replies');
  t.is(recs.filter((r) => r.kind === 'irq').length, 1);
  t.is(recs.filter((r) => r.kind === 'session').length, 2);
  t.like((recs[0] as TraceHeader).device, { name: 'ImsQueueDevice', vendor: IRQLAB_VENDOR_ID });
});

test("faults the device's own engine applies are recorded, by rule, action and target", async (t) => {
  const d = tempDir();
  t.teardown(() => d.remove());
  const file = join(d.dir, 'device-faults.trace');
  const h = startServer();
  t.teardown(() => h.close());
  const rec = await TraceRecorder.open(file);
  rec.attach({ server: h.server });
  const id = h.device.faults.add({ on: 'irq', kind: 'msix', index: 5, action: 'drop', count: 1 });
  h.device.fireMsix(5);
  h.device.fireMsix(5);
  await rec.close();
  const recs = await records(file);
  const faults = recs.filter((r) => r.kind === 'fault');
  t.is(faults.length, 1, 'count 1: the rule acts once');
  t.like(faults[0], { action: 'drop' });
  t.regex((faults[0] as { rule: string }).rule, new RegExp(`^${id}: `));
  t.like(recs.filter((r) => r.kind === 'irq')[0], { irq: 'msix', index: 5, outcome: 'dropped' });
});

test('guest errors and faults are recorded; any fault engine can report through attach', async (t) => {
  const d = tempDir();
  t.teardown(() => d.remove());
  const file = join(d.dir, 'faults.trace');
  const h = startServer();
  t.teardown(() => h.close());
  const { EventEmitter } = await import('node:events');
  const engine = new EventEmitter();
  const rec = await TraceRecorder.open(file);
  rec.attach({ device: h.device, faults: engine });
  h.device.regs.set('Q_IRQ[0]', 0xc0000000 | 1000); // as a driver would: queue 0 to IMS slot 1000, which does not exist
  h.device.complete(0, 1);
  engine.emit('fault', { id: 'f1', rule: 'drop ims 1', action: 'drop', target: 'ims 1' });
  rec.recordFault({ rule: 'delay REGION_READ', action: { delay: 150 }, target: 'REGION_READ', detail: 'held 150 ms' });
  await rec.close();
  engine.emit('fault', { id: 'f2', rule: 'after close', action: 'drop', target: 'x' });
  const recs = await records(file);
  t.like(recs.find((r) => r.kind === 'guest-error'), { guestError: 'irq-index', message: "queue 0's interrupt route (Q_IRQ): IMS slot 1000 does not exist (valid: 0..63)" });
  const faults = recs.filter((r) => r.kind === 'fault');
  t.deepEqual(faults.map((f) => ({ ...f, t: 0 })), [
    { kind: 'fault', t: 0, rule: 'f1: drop ims 1', action: 'drop', target: 'ims 1' },
    { kind: 'fault', t: 0, rule: 'delay REGION_READ', action: '{"delay":150}', target: 'REGION_READ', detail: 'held 150 ms' },
  ]);
});

test('a file that cannot be written: close() says so, and every record after the failure counts as dropped', async (t) => {
  const rec = await TraceRecorder.open('/dev/full', { flushMs: 1 });
  for (let i = 0; i < 1000; i++) rec.recordIrq({ kind: 'msix', index: 0, outcome: 'delivered' });
  await eventually('the write to fail', () => rec.error !== undefined);
  rec.recordIrq({ kind: 'msix', index: 1, outcome: 'delivered' });
  await t.throwsAsync(rec.close(), { message: /\/dev\/full: writing failed \(ENOSPC/ });
  t.like(rec.stats, { records: 0, dropped: 1001 });
});

test('DMA to shared memory, reported by whoever does it, is a dma record without a message id', async (t) => {
  const d = tempDir();
  t.teardown(() => d.remove());
  const file = join(d.dir, 'local-dma.trace');
  const rec = await TraceRecorder.open(file);
  rec.recordDmaAccess('read', 0x100000n, Uint8Array.of(1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0));
  rec.recordDmaAccess('write', 0x100010n, Uint8Array.of(0x31, 0, 0, 0));
  await rec.close();
  const dmas = (await records(file)).filter((r): r is DmaRecord => r.kind === 'dma');
  t.deepEqual(dmas.map(({ t: _t, ...r }) => ({ ...r, data: r.data && [...r.data] })), [
    { kind: 'dma', op: 'read', address: 0x100000, count: 16, data: [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0] },
    { kind: 'dma', op: 'write', address: 0x100010, count: 4, value: 0x31, data: undefined },
  ]);
  const out = cli(file, '--kind', 'dma').out;
  t.regex(out, /dma +write 0x100010 4 B = 0x00000031 \(shared memory\)/);
});

// ---- filters -------------------------------------------------------------------

const pick = (args: Parameters<typeof parseFilter>[0]) => {
  const f = parseFilter(args);
  return session.filter((r) => matches(f, r));
};

test('--command selects those messages only; with --kind the other kinds stay', (t) => {
  const reads = pick({ command: 'REGION_READ' });
  t.true(reads.length >= 4);
  t.true(reads.every((r) => r.kind === 'msg' && r.command === Command.REGION_READ));
  t.deepEqual(pick({ command: 'vfio_user_region_read' }), reads, 'names in any case, with the spec prefix');
  const mixed = pick({ kind: 'msg,irq', command: 'REGION_READ,DMA_WRITE' });
  t.deepEqual([...new Set(mixed.map((r) => r.kind))].sort(), ['irq', 'msg']);
  t.true(mixed.filter((r) => r.kind === 'msg').every((r) => ([Command.REGION_READ, Command.DMA_WRITE] as number[]).includes((r as MsgRecord).command)));
  t.is(mixed.filter((r) => r.kind === 'irq').length, 2);
});

test('--vector and --slot select interrupts of that vector or slot', (t) => {
  t.deepEqual(pick({ vector: String(MSIX_VECTOR) }).map((r) => `${(r as IrqRecord).irq} ${(r as IrqRecord).index}`), [`msix ${MSIX_VECTOR}`]);
  t.deepEqual(pick({ slot: String(IMS_SLOT) }).map((r) => `${(r as IrqRecord).irq} ${(r as IrqRecord).index}`), [`ims ${IMS_SLOT}`]);
  t.is(pick({ vector: '7' }).length, 0);
  t.is(pick({ vector: String(MSIX_VECTOR), slot: String(IMS_SLOT) }).length, 2);
});

test('--kind, --from and --to', (t) => {
  t.deepEqual([...new Set(pick({ kind: 'reset,session' }).map((r) => r.kind))].sort(), ['reset', 'session']);
  const ims = session.find((r) => r.kind === 'irq' && r.irq === 'ims')!;
  const from = pick({ from: String(ims.t / 1e6) });
  t.is(from[0].t >= ims.t, true);
  t.true(from.length < session.length - 1);
  const to = pick({ to: String(ims.t / 1e6) });
  t.true(to.every((r) => r.t <= ims.t));
  t.is(to.length + from.length, session.length - 1 + session.filter((r) => r.t === ims.t).length, 'the two halves cover the trace');
});

test('bad filters say what is wrong', (t) => {
  t.throws(() => parseFilter({ kind: 'msg,bogus' }), { instanceOf: FilterError, message: /unknown kind bogus.*msg, irq/ });
  t.throws(() => parseFilter({ command: 'REGION_FROB' }), { instanceOf: FilterError, message: /unknown command REGION_FROB/ });
  t.throws(() => parseFilter({ vector: 'two' }), { instanceOf: FilterError, message: /--vector wants a number/ });
  t.throws(() => parseFilter({ slot: '-1' }), { instanceOf: FilterError, message: /--slot/ });
  t.throws(() => parseFilter({ from: 'soon' }), { instanceOf: FilterError, message: /--from wants seconds/ });
  t.throws(() => parseFilter({ from: '2', to: '1' }), { instanceOf: FilterError, message: /after --to/ });
});

// ---- the CLI --------------------------------------------------------------------

const BIN = new URL('../../src/cli/bin.mjs', import.meta.url).pathname;
function cli(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, 'trace', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('irqlab trace FILE: a timeline with aligned columns, one line per record', (t) => {
  const { code, out, err } = cli(sessionFile);
  t.is(code, 0, err);
  const lines = out.trimEnd().split('\n');
  t.regex(lines[0], /^# irqlab \S+ trace of ims-queue f1ab:0001, started \d{4}-/);
  const body = lines.slice(1);
  t.is(body.length, session.length - 1);
  // time, kind, description: each column starts at the same place on every line.
  const cols = body.map((l) => /^( *\d+\.\d{6})  (\S+ *)  \S/.exec(l));
  t.true(cols.every(Boolean), 'every line is time, kind, description');
  t.is(new Set(cols.map((m) => m![1].length)).size, 1, 'times end in one column');
  t.is(new Set(cols.map((m) => m![2].length)).size, 1, 'descriptions start in one column');
  const text = body.join('\n');
  t.regex(text, /msg +<- REGION_READ #\d+ config\+0x0 4 B\n/);
  t.regex(text, /msg +-> reply #\d+ REGION_READ = 0x0001f1ab\n/);
  t.regex(text, /msg +<- REGION_WRITE #\d+ SCRATCH 4 B = 0x1234abcd \(posted\)\n/);
  t.regex(text, /msg +<- DEVICE_SET_IRQS #\d+ MSI-X 0\.\.3 trigger eventfd \+4 fds\n/);
  t.regex(text, /irq +msix vector 2 delivered\n/);
  t.regex(text, /msg +-> DMA_WRITE #\d+ 0xfee00000 4 B = 0x00000031 \(posted\)\n/);
  t.regex(text, /dma +write 0xfee00000 4 B = 0x00000031 #\d+\n/);
  t.regex(text, /irq +ims slot 3 delivered 0xfee00000\/0x31\n/);
  t.regex(text, /session +client connected \(pid \d+, uid \d+\)\n/);
  t.regex(text, /end +trace closed: \d+ records, 0 dropped$/);
});

test('irqlab trace with filters and --limit', (t) => {
  const irqs = cli(sessionFile, '--kind', 'irq');
  t.is(irqs.code, 0, irqs.err);
  t.deepEqual(irqs.out.trimEnd().split('\n').slice(1).map((l) => l.replace(/^ *\S+ +/, '').replace(/ +/, ' ')), [
    'irq msix vector 2 delivered',
    'irq ims slot 3 delivered 0xfee00000/0x31',
  ]);
  const reads = cli(sessionFile, '--command', 'REGION_READ', '--limit', '3');
  t.is(reads.out.trimEnd().split('\n').length, 1 + 3);
  t.true(reads.out.split('\n').slice(1, 4).every((l) => /REGION_READ/.test(l)));
  const late = cli(sessionFile, '--kind', 'session', '--from', '0.000001', '--to', '999');
  t.is(late.out.trimEnd().split('\n').length, 1 + 2);
});

test('irqlab trace --stats: records by kind, messages by command, interrupts by kind and outcome, drops', (t) => {
  const { code, out, err } = cli(sessionFile, '--stats');
  t.is(code, 0, err);
  t.regex(out, /^irqlab \S+ trace of ims-queue f1ab:0001/);
  t.regex(out, new RegExp(`\\n${session.length - 1} records over `));
  t.regex(out, /\nmsg +\d+\n/);
  t.regex(out, /\nREGION_WRITE +\d+ +0 +1 +\d+ +0 +\d+\n/, 'one posted REGION_WRITE');
  t.regex(out, /\nDMA_WRITE +0 +1 +1 +0 +0 +36\n/, 'one DMA_WRITE from irqlab, posted');
  t.regex(out, /\ninterrupts +delivered +total\n/);
  t.regex(out, /\nims +1 +1\nmsix +1 +1\n/);
  t.regex(out, /\ndropped: 0 records\n/);
});

test('irqlab trace: bad filters exit 2, an unreadable or foreign file exits 1, each with a clear message', (t) => {
  const bad = cli(sessionFile, '--kind', 'nope');
  t.is(bad.code, 2);
  t.regex(bad.err, /--kind: unknown kind nope/);
  t.is(cli(sessionFile, '--limit', 'ten').code, 2);
  t.is(cli(sessionFile, '--frobnicate').code, 2);
  t.is(cli().code, 2);
  const missing = cli(join(tmp.dir, 'nope.trace'));
  t.is(missing.code, 1);
  t.regex(missing.err, /cannot read .*nope\.trace: ENOENT/);
  const foreign = join(tmp.dir, 'foreign.trace');
  writeFileSync(foreign, 'this is not a trace\n');
  const f = cli(foreign);
  t.is(f.code, 1);
  t.regex(f.err, /not an irqlab trace/);
  const empty = join(tmp.dir, 'empty.trace');
  writeFileSync(empty, '');
  t.regex(cli(empty).err, /empty file/);
});

// ---- stopped writers --------------------------------------------------------------

test('a trace cut inside a record reads up to that record, and says so', async (t) => {
  const whole = readFileSync(sessionFile);
  const cutFile = join(tmp.dir, 'cut.trace');
  // Where each record ends, to cut inside the end record and inside a record in the middle.
  const ends: number[] = [];
  new Unpackr({ useRecords: false }).unpackMultiple(whole, (_v, _start, end) => void ends.push(end!));
  const middle = ends[Math.floor(ends.length / 2)];
  for (const cut of [whole.length - 3, middle - 2]) {
    writeFileSync(cutFile, whole.subarray(0, cut));
    let truncated: { offset: number; bytes: number; records: number } | undefined;
    const got = await records(cutFile, { onTruncated: (i) => (truncated = i), chunkBytes: 256 });
    t.truthy(truncated, `cut at ${cut}`);
    t.is(truncated!.offset + truncated!.bytes, cut);
    t.is(got.length, truncated!.records);
    t.deepEqual(got, session.slice(0, got.length), 'the records before the cut are intact');
    t.true(got.length < session.length);
    const c = cli(cutFile);
    t.is(c.code, 0);
    t.regex(c.err, /ends inside a record/);
    t.is(c.out.trimEnd().split('\n').length, got.length);
  }
  writeFileSync(cutFile, whole.subarray(0, 20));
  await t.throwsAsync(records(cutFile), { instanceOf: TraceFormatError, message: /header is incomplete/ });
});

test('a writer killed mid-trace leaves a readable file without an end record', async (t) => {
  const d = tempDir();
  t.teardown(() => d.remove());
  const file = join(d.dir, 'killed.trace');
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('./killed-writer.ts', import.meta.url).pathname, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.includes('written')) resolve(); });
    child.once('exit', (code) => reject(new Error(`the writer exited (${code}) before writing`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.true(statSync(file).size > 0);
  const got = await records(file);
  t.is(got[0].kind, 'header');
  t.true(got.filter((r) => r.kind === 'irq').length > 0);
  t.false(got.some((r) => r.kind === 'end'));
  const stats = cli(file, '--stats');
  t.is(stats.code, 0);
  t.regex(stats.out, /no end record/);
});

test('readTrace yields records as it reads: a large trace is not read whole first', async (t) => {
  // The first record arrives before the reader has gone through the file.
  let first: TraceRecord | undefined;
  for await (const r of readTrace(sessionFile, { chunkBytes: 64 })) {
    first = r;
    break;
  }
  t.is(first?.kind, 'header');
});
