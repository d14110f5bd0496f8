// The control socket: typed client, `irqlab ctl`, bad input, and a device that
// keeps running whatever arrives.
import test from 'ava';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { statSync, writeFileSync, readFileSync } from 'node:fs';
import { Packr, unpack } from 'msgpackr';
import { listenUnix, closeFd } from '../../ffi/index.ts';
import { ControlServer } from '../../src/control/server.ts';
import { ControlClient, ControlError } from '../../src/control/client.ts';
import { parseRuleWords } from '../../src/control/rule-syntax.ts';
import { startControlled } from '../helpers/control.ts';
import { eventually } from '../helpers/eventually.ts';
import { irqlabBin, spawnServe } from '../helpers/spawn-serve.ts';
import { Region, IrqIndex } from '../../src/protocol/index.ts';

const rig = startControlled;

test('fault rules over the control socket act on the device; stats report them', async (t) => {
  const { h, path, ctl } = await rig(t);
  t.is(statSync(path).mode & 0o777, 0o600);
  const c = await h.connect();
  await c.write16(Region.CONFIG, 4, 0x6);
  const evs = await c.bindEventfds(IrqIndex.MSIX, 0, 8);
  await c.write16(Region.CONFIG, h.device.caps.msix! + 2, 0x8000);
  await c.write32(2, 12, 0);
  const id = await ctl.addFault({ on: 'irq', kind: 'msix', index: 0, action: 'drop', count: 1 });
  t.is((await ctl.listFaults())[0].id, id);
  t.is(await ctl.fire('msix', 0), 'dropped');
  t.is(await ctl.fire('msix', 0), 'delivered');
  await eventually('1 signal(s) on eventfd 0', () => evs[0].total === 1);
  const stats = (await ctl.stats()) as { irqs: Record<string, number>; faults: Record<string, number> };
  t.is(stats.irqs['msix:0:dropped'], 1);
  t.is(stats.faults[id], 1);
  t.deepEqual(await ctl.complete(1, 2), [], 'queue 1 has no interrupt enabled: no outcomes');
  t.is(h.device.queue(1).completed, 2);
  t.is(await ctl.clearFaults(), 1);
});

test('bad requests get clear errors and the device keeps running', async (t) => {
  const { h, path, ctl } = await rig(t);
  await t.throwsAsync(ctl.request('explode'), { instanceOf: ControlError, message: /unknown op "explode"/ });
  await t.throwsAsync(ctl.fire('nmi' as never, 0), { message: /kind must be one of/ });
  await t.throwsAsync(ctl.complete(99), { message: /queue 99 does not exist/ });
  await t.throwsAsync(ctl.addFault({ on: 'irq', action: 'explode' }), { message: /interrupt action must be/ });
  await t.throwsAsync(ctl.removeFault('nope'), { message: /no fault rule nope/ });
  // A value that is not a request gets an error response...
  const raw = connect(path);
  raw.on('error', () => {}); // the server resets it below
  await new Promise((r) => raw.once('connect', r));
  raw.write(Buffer.from([0xc1]));
  const reply = await new Promise<Buffer>((r) => raw.once('data', r));
  t.regex(reply.toString('latin1'), /a request is \{id, op, args\}/);
  // ...and a message that never ends (a 2 GiB string announced) closes that
  // connection once it passes the size limit; the device serves on.
  const header = Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff]);
  raw.write(Buffer.concat([header, Buffer.alloc(1100 * 1024)]));
  await new Promise((r) => raw.once('close', r));
  t.is(((await ctl.info()) as { vendor: number }).vendor, 0xf1ab);
  const c = await h.connect();
  t.is(await c.configRead32(0), 0x0001f1ab);
});

test('the short rule syntax of irqlab ctl', (t) => {
  t.deepEqual(parseRuleWords(['irq', 'ims', '3', 'drop', 'count=1']), { on: 'irq', kind: 'ims', index: 3, action: 'drop', count: 1 });
  t.deepEqual(parseRuleWords(['irq', 'msix', 'delay=200']), { on: 'irq', kind: 'msix', action: { delay: 200 } });
  t.deepEqual(parseRuleWords(['irq', 'ims', '1', 'duplicate=2', 'gap=50']), { on: 'irq', kind: 'ims', index: 1, action: { duplicate: 2, gapMs: 50 } });
  t.deepEqual(parseRuleWords(['irq', 'ims', '0', 'misroute', 'data=0x41']), { on: 'irq', kind: 'ims', index: 0, action: { misroute: { data: 0x41 } } });
  t.deepEqual(parseRuleWords(['read', '0', '0x28', 'all-ones']), { on: 'read', region: 0, offset: 0x28, action: 'all-ones' });
  t.deepEqual(parseRuleWords(['read', '0', '0x8', 'value=3']), { on: 'read', region: 0, offset: 8, action: { value: 3 } });
  t.deepEqual(parseRuleWords(['write', '0', '0x2000', 'late', 'length=1024']), { on: 'write', region: 0, offset: 0x2000, length: 1024, action: 'late' });
  t.deepEqual(parseRuleWords(['write', '0', 'late=200']), { on: 'write', region: 0, action: { late: 200 } });
  t.deepEqual(parseRuleWords(['command', 'REGION_READ', 'error=EIO', 'p=0.5', 'seed=7']), { on: 'command', command: 'REGION_READ', action: { error: 'EIO' }, probability: 0.5, seed: 7 });
  t.deepEqual(parseRuleWords(['{"on":"dma","action":"drop"}']), { on: 'dma', action: 'drop' });
  t.deepEqual(parseRuleWords(['dma', 'read', 'corrupt', 'count=1']), { on: 'dma', direction: 'read', action: 'corrupt', count: 1 });
  t.throws(() => parseRuleWords(['irq', 'ims', 'explode']), { message: /irq action/ });
  t.throws(() => parseRuleWords(['irq', 'drop', 'bogus=1']), { message: /unknown option bogus=/ });
  t.throws(() => parseRuleWords(['frob']), { message: /a rule starts with irq/ });
});

test('irqlab serve --control and irqlab ctl, as a person uses them', async (t) => {
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'irqlab-ctl-'));
  const control = join(dir, 'control.sock');
  const served = await spawnServe(undefined, ['--control', control]);
  t.teardown(() => served.stop());
  const ctl = (...args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(process.execPath, [irqlabBin, 'ctl', control, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
  const add = await ctl('fault', 'add', 'irq', 'ims', '3', 'drop', 'count=2');
  t.is(add.code, 0, add.err);
  t.regex(add.out, /^f\d+\n$/);
  const list = await ctl('fault', 'list');
  t.regex(list.out, /irq ims 3: drop \(count 2\)/);
  t.is((await ctl('fire', 'ims', '3')).out.trim(), 'dropped');
  const stats = await ctl('stats');
  t.regex(stats.out, /ims\s+3\s+dropped\s+1/);
  const bad = await ctl('fault', 'add', 'irq', 'ims', 'explode');
  t.is(bad.code, 1);
  t.regex(bad.err, /irq action: drop/);
  const wrapped = await ctl('fire', 'msix', '99');
  t.is(wrapped.code, 1, 'a vector the device lacks is an error, not vector 99 mod 8');
  t.is(wrapped.err, 'irqlab ctl: MSI-X vector 99 does not exist (valid: 0..7)\n');
  t.regex(stats.out, /no guest errors/);
  t.regex((await ctl('fault', 'add', 'write', '0', '0x2000', 'late', 'length=1024')).out, /^f\d+\n$/);
  t.regex((await ctl('fault', 'list')).out, /write region 0\+0x2000: late/);
  t.is((await ctl('info')).code, 0, 'the device still answers');
});

test('the control socket listens like the vfio-user socket: a live listener is refused, a stale socket replaced, another file left alone', async (t) => {
  const { h, path, ctl } = await rig(t);
  const err = await t.throwsAsync(ControlServer.listen(path, { device: h.device, server: h.server }));
  t.regex(err!.message, /another server is listening on/);
  t.is(((await ctl.info()) as { vendor: number }).vendor, 0xf1ab, 'the first control server still answers');
  // A socket file nobody listens on (a server that died) is replaced.
  const stale = join(h.dir, 'stale.sock');
  closeFd(listenUnix(stale));
  const cs = await ControlServer.listen(stale, { device: h.device, server: h.server });
  t.teardown(() => cs.close());
  const c2 = await ControlClient.connect(stale);
  t.is(((await c2.info()) as { vendor: number }).vendor, 0xf1ab);
  c2.close();
  const file = join(h.dir, 'not-a-socket');
  writeFileSync(file, 'keep me');
  await t.throwsAsync(ControlServer.listen(file, { device: h.device, server: h.server }), { message: /is not a socket; refusing to replace it/ });
  t.is(readFileSync(file, 'utf8'), 'keep me');
});

test('the wire is plain msgpack: a request cut in two pieces from another packer is answered, and any msgpack reader reads the answer', async (t) => {
  const { path } = await rig(t);
  const raw = connect(path);
  t.teardown(() => raw.destroy());
  await new Promise((r) => raw.once('connect', r));
  const req = new Packr({ useRecords: false }).pack({ id: 41, op: 'fault.list' });
  raw.write(req.subarray(0, 5));
  await new Promise((r) => setTimeout(r, 20)); // the first piece is read on its own
  raw.write(req.subarray(5));
  const answer = unpack(await new Promise<Buffer>((r) => raw.once('data', r)));
  t.deepEqual(answer, { id: 41, ok: true, result: [] });
});
