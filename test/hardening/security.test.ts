// Who may reach the server, and what a client (or a guest driving the device)
// can make it do with sizes, offsets and addresses of its choosing.
// - The default socket is 0600 in a 0700 directory of its own; peers are
//   checked by SO_PEERCRED (another uid is refused with EPERM, --allow-uid lets
//   it in).
// - Every client- and guest-controlled size, offset and address is checked:
//   DMA outside any mapping, huge counts, u64 wrap, DMA_UNMAP of a window the
//   device is reading, windows the mapping cannot back, read-only windows,
//   descriptors that block, a client's bad answers to the device's DMA.
// Tests marked `failing` pin bugs found here and reported; each says what the
// server should do, and starts passing (so ava flags it) once fixed.
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createMemFd, closeFd, closeFds, connectUnix, MappedRegion } from '../../ffi/index.ts';
import {
  Command, Errno, VfioError, Region, IrqIndex, MsgType, DMA_MAP_READ, DMA_MAP_WRITE,
  IRQ_SET_DATA_NONE, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_EVENTFD, IRQ_SET_ACTION_TRIGGER,
  encodeRegionAccess, encodeRegionData, encodeWriteMulti, encodeIrqSet, encodeDmaMap, encodeDmaUnmap,
  encodeRegionInfo, encodeDeviceInfo, encodeDmaRead, encodeDmaData, decodeDmaRead, decodeWriteMultiReply, decodeRegionInfo, encodeVersion,
  type Header,
} from '../../src/protocol/index.ts';
import { Reg, QUEUE_BASE, Q, Q_IRQ_IMS, Q_IRQ_ENABLE, IMS_TABLE_OFFSET, CTRL_IMS_SYSMEM, IRQLAB_ID_MAGIC, type ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import type { IrqEvent } from '../../src/irq/events.ts';
import { VfioUserClient } from '../../src/client/index.ts';
import { Connection } from '../../src/transport/connection.ts';
import { startServer, sleep, errnoOf } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { spawnServe, irqlabBin, type Served } from '../helpers/spawn-serve.ts';
import { saturatedBlockingEventFd, pipe, drain, truncate } from '../helpers/native.ts';
import { procStats, settle } from '../helpers/proc-stats.ts';

const repo = new URL('../../', import.meta.url).pathname;
const peerScript = new URL('../helpers/peer-client.ts', import.meta.url).pathname;
const NOBODY = 65534;
const CONFIG_ID = 0x0001f1ab;
const W = 0x100000n; // a DMA window's guest address
const MSI = 0xfee00000;


/** Rejects after `ms`; for requests to a server that may hang. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);
}

const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const imsSlot = (address: bigint, data: number) => {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, Number(address & 0xffffffffn), true);
  v.setUint32(4, Number(address >> 32n), true);
  v.setUint32(8, data, true);
  return b;
};

/** Points queue q's interrupt at IMS slot `slot` and rings its doorbell once. */
async function fireIms(c: VfioUserClient, q: number, slot: number, posted = false): Promise<void> {
  await c.write32(0, QUEUE_BASE + q * 0x20 + Q.IRQ, Q_IRQ_IMS | Q_IRQ_ENABLE | slot, { posted });
  await c.write32(0, QUEUE_BASE + q * 0x20 + Q.DOORBELL, 1, { posted });
}

/** IMS in system memory at `base`. */
async function imsInSystemMemory(c: VfioUserClient, base: bigint): Promise<void> {
  await c.write32(0, Reg.IMS_BASE_LO, Number(base & 0xffffffffn));
  await c.write32(0, Reg.IMS_BASE_HI, Number(base >> 32n));
  await c.write32(0, Reg.CTRL, CTRL_IMS_SYSMEM);
}

/** `irqlab serve` in a child, with a record of how it ended. */
async function child(t: ExecutionContext, extra: string[] = []): Promise<Served & { dead(): string | undefined }> {
  const s = await spawnServe(undefined, extra);
  let dead: string | undefined;
  s.proc.once('exit', (code, sig) => { dead = sig ? `killed by ${sig}` : `exited with status ${code}`; });
  t.teardown(() => (dead ? undefined : s.stop()));
  return Object.assign(s, { dead: () => dead });
}

/** The server in `s` is alive and a new client can read the config id (the old one may be gone). */
async function servesAgain(s: Served & { dead(): string | undefined }): Promise<string | true> {
  await sleep(50);
  if (s.dead()) return `the server died: ${s.dead()}`;
  try {
    const c = await within(VfioUserClient.connect(s.socket), 3000);
    const id = await within(c.configRead32(0), 3000);
    c.close();
    return id === CONFIG_ID ? true : `read 0x${id.toString(16)}`;
  } catch (err) {
    return `no service: ${(err as Error).message}${s.dead() ? `; ${s.dead()}` : ''}`;
  }
}

// ---- the socket --------------------------------------------------------------

interface PeerOutcome {
  uid: number;
  connectError?: string;
  reply?: { id: number; command: number; flags: number; error: number; payloadBytes: number };
  closedByServer?: boolean;
  configId?: number;
}

/** Runs test/helpers/peer-client.ts as `uid` against `socket`. */
function runPeer(socket: string, uid = NOBODY): Promise<PeerOutcome> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import=tsx', peerScript, socket], {
      uid, gid: uid, cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: tmpdir() },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.once('exit', (code) => {
      const line = out.trim().split('\n').pop();
      if (code !== 0 || !line) reject(new Error(`peer client (uid ${uid}) exited ${code}: ${err}`));
      else resolve(JSON.parse(line) as PeerOutcome);
    });
  });
}

/** Spawns `irqlab serve` without --socket, through sh so the umask can be set. */
function serveDefault(env: NodeJS.ProcessEnv, umask = '022') {
  const p = spawn('/bin/sh', ['-c', `umask ${umask}; exec "$0" "$1" serve`, process.execPath, irqlabBin], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; });
  const exit = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  const line = new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout }).once('line', resolve);
    p.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { p, line, exit, stderr: () => stderr, stop: async () => { p.kill('SIGTERM'); await exit; } };
}

function envWithout(tmp: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  delete env.XDG_RUNTIME_DIR;
  return env;
}

test('without --socket or XDG_RUNTIME_DIR the socket is 0600 in a 0700 directory of its own, even under umask 000; another user cannot reach it', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'irqlab-sec-'));
  chmodSync(tmp, 0o755);
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const s = serveDefault(envWithout(tmp), '000');
  t.teardown(() => s.stop());
  const uid = process.getuid!();
  const dir = join(tmp, `irqlab-${uid}`);
  t.is(await s.line, `listening on ${join(dir, 'ims-queue.sock')}`);
  const d = lstatSync(dir);
  t.true(d.isDirectory());
  t.is(d.mode & 0o777, 0o700);
  t.is(d.uid, uid);
  t.is(statSync(join(dir, 'ims-queue.sock')).mode & 0o777, 0o600);
  const peer = await runPeer(join(dir, 'ims-queue.sock'));
  t.regex(peer.connectError ?? '', /EACCES/, 'a peer of another uid cannot even connect');
});

test('the private directory: a loose mode is tightened to 0700; a symlink or a directory of another user is refused', async (t) => {
  const uid = process.getuid!();
  const cases: [string, (dir: string, tmp: string) => void, boolean][] = [
    ['loose mode', (dir) => { mkdirSync(dir); chmodSync(dir, 0o777); }, true],
    ['symlink to a world-writable directory', (dir, tmp) => { mkdirSync(join(tmp, 'elsewhere')); chmodSync(join(tmp, 'elsewhere'), 0o777); symlinkSync(join(tmp, 'elsewhere'), dir); }, false],
    ['owned by another uid', (dir) => { mkdirSync(dir, { mode: 0o700 }); chownSync(dir, NOBODY, NOBODY); }, false],
  ];
  for (const [what, prepare, accepted] of cases) {
    const tmp = mkdtempSync(join(tmpdir(), 'irqlab-sec-'));
    t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
    const dir = join(tmp, `irqlab-${uid}`);
    prepare(dir, tmp);
    const s = serveDefault(envWithout(tmp));
    if (accepted) {
      t.is(await s.line, `listening on ${join(dir, 'ims-queue.sock')}`, what);
      t.is(lstatSync(dir).mode & 0o777, 0o700, `${what}: tightened`);
      await s.stop();
    } else {
      await t.throwsAsync(s.line, undefined, what);
      t.is(await s.exit, 1, what);
      t.regex(s.stderr(), new RegExp(`is not a directory owned by uid ${uid}; pass --socket PATH`), what);
      t.throws(() => statSync(join(dir, 'ims-queue.sock')), undefined, `${what}: no socket created there`);
    }
  }
});

/** Makes a --socket server reachable by anyone: 0755 directory, 0666 socket. */
function openUp(socket: string): void {
  chmodSync(dirname(socket), 0o755);
  chmodSync(socket, 0o666);
}

test('a client of another uid is refused by SO_PEERCRED: an EPERM reply to its VERSION, a log line, then the close', async (t) => {
  const s = await child(t);
  openUp(s.socket);
  const peer = await runPeer(s.socket);
  t.is(peer.uid, NOBODY);
  t.deepEqual(peer.reply, { id: 7, command: Command.VERSION, flags: MsgType.REPLY | 0x20, error: Errno.EPERM, payloadBytes: 0 });
  t.true(peer.closedByServer, 'the server closes the connection after the error reply');
  t.is(peer.configId, undefined);
  await eventually('the log line', () => /refused client pid \d+: uid 65534 is not allowed \(server runs as uid 0; see --allow-uid\)/.test(s.stderr()));
  t.is(await servesAgain(s), true, 'our own uid is still served');
});

test('--allow-uid lets a client of that uid in', async (t) => {
  const s = await child(t, ['--allow-uid', String(NOBODY)]);
  openUp(s.socket);
  const peer = await runPeer(s.socket);
  t.is(peer.reply?.flags, MsgType.REPLY);
  t.is(peer.reply?.error, 0);
  t.is(peer.configId, CONFIG_ID);
  await eventually('the log line', () => /client connected \(pid \d+, uid 65534\)/.test(s.stderr()));
});

// ---- sizes, offsets and addresses ------------------------------------------------

const U64_MAX = (1n << 64n) - 1n;

test('huge counts and u64 wrap in every field are refused or clipped, and the connection stays in sync', async (t) => {
  const h = startServer();
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.write16(Region.CONFIG, 4, 0x6);
  const memfd = () => [createMemFd('irqlab-sec', 4096)];
  const cases: [string, number, Uint8Array, number, (() => number[])?][] = [
    ['REGION_READ of 0xffffffff bytes', Command.REGION_READ, encodeRegionAccess({ offset: 0n, region: 0, count: 0xffffffff }), Errno.EINVAL],
    ['REGION_WRITE announcing 0xffffffff bytes with 4', Command.REGION_WRITE, (() => { const p = encodeRegionData({ offset: 0x20n, region: 0, count: 4, data: u32(1) }); new DataView(p.buffer).setUint32(12, 0xffffffff, true); return p; })(), Errno.EINVAL],
    ['REGION_WRITE whose offset + count wraps', Command.REGION_WRITE, encodeRegionData({ offset: U64_MAX - 1n, region: 0, count: 4, data: u32(1) }), Errno.EINVAL],
    ['REGION_WRITE_MULTI of 2^64-1 entries', Command.REGION_WRITE_MULTI, (() => { const p = encodeWriteMulti([]); new DataView(p.buffer).setBigUint64(0, U64_MAX, true); return p; })(), Errno.EINVAL],
    ['SET_IRQS DATA_BOOL for 0xffffffff interrupts', Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz: 21, flags: IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 0xffffffff, data: new Uint8Array(1) }), Errno.EINVAL],
    ['SET_IRQS DATA_EVENTFD releasing 0xffffffff interrupts', Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz: 20, flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 0xffffffff }), Errno.EINVAL],
    ['DMA_MAP of 2^64-1 bytes', Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: 0x1000n, size: U64_MAX }), Errno.EINVAL],
    ['DMA_MAP whose address + size wraps', Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: U64_MAX - 0xfffn, size: 0x2000n }), Errno.EINVAL],
    ['DMA_MAP with a memfd and a window above 2^53', Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: 0x10000000n, size: (1n << 53n) + 4096n }), Errno.EINVAL, memfd],
    ['DMA_MAP with a memfd at file offset 2^63', Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 1n << 63n, address: 0x10000000n, size: 0x1000n }), -1, memfd],
    ['DMA_MAP with a memfd at file offset 2^64-4096', Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: U64_MAX - 0xfffn, address: 0x10000000n, size: 0x1000n }), -1, memfd],
    ['DMA_MAP with argsz 0xffffffff and a memfd', Command.DMA_MAP, encodeDmaMap({ argsz: 0xffffffff, flags: 3, offset: 0n, address: 0x20000000n, size: 0x1000n }), 0, memfd],
    ['DMA_UNMAP of a range reaching past 2^64', Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address: U64_MAX - 0xfffn, size: U64_MAX }), 0],
    ['DMA_READ of 2^64-1 bytes sent to the server', Command.DMA_READ, (() => { const p = encodeDmaRead({ address: 0n, count: 0 }); new DataView(p.buffer).setBigUint64(8, U64_MAX, true); return p; })(), Errno.EINVAL],
    ['DEVICE_GET_INFO with argsz 0xffffffff', Command.DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 0xffffffff, flags: 0, numRegions: 0, numIrqs: 0 }), 0],
  ];
  for (const [what, cmd, payload, errno, fds] of cases) {
    const sent = fds?.() ?? [];
    const got = await errnoOf(c.request(cmd, payload, { fds: sent }));
    closeFds(sent);
    if (errno < 0) t.not(got, 0, `${what}: refused`);
    else t.is(got, errno, what);
    t.is(await c.read32(0, 0), IRQLAB_ID_MAGIC, `${what}: the next request is served`);
  }
  // Entries of a REGION_WRITE_MULTI are checked one by one: a wrapping offset stops the batch at 0 done.
  const multi = await c.request(Command.REGION_WRITE_MULTI, encodeWriteMulti([{ offset: U64_MAX, region: 0, count: 4, data: u32(1) }]));
  t.is(decodeWriteMultiReply(multi.payload), 0);
  const ri = await c.request(Command.DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 0xffffffff, flags: 0, index: 0, capOffset: 0, size: 0n, offset: 0n }));
  t.is(decodeRegionInfo(ri.payload).argsz, 32, 'GET_REGION_INFO answers with the size it needs, whatever argsz offered');
  t.is(h.server.session!.ctx.dma.count, 1, 'only the sane DMA_MAP took');
});

test('a client announcing max_data_xfer_size 0 is refused at VERSION (it would make every DMA transfer loop forever)', async (t) => {
  const s = await child(t);
  const err = await t.throwsAsync(within(VfioUserClient.connect(s.socket, { capabilities: { maxDataXferSize: 0 } }), 5000));
  t.is((err as VfioError).errno, Errno.EINVAL);
  t.is(await servesAgain(s), true);
});

test('device DMA outside every mapping goes to the client by message and fails cleanly; nothing is read past a window', async (t) => {
  const h = startServer();
  t.teardown(() => h.close());
  const events: IrqEvent[] = [];
  h.device.on('irq', (e) => events.push(e));
  const asked: bigint[] = [];
  const c = await h.connect({ tap: (dir, hd, p) => { if (dir === 'in' && hd.command === Command.DMA_READ && (hd.flags & 0xf) === 0) asked.push(decodeDmaRead(p).address); } });
  await c.write16(Region.CONFIG, 4, 0x6);
  // The IMS table in system memory at an address the client never mapped.
  await imsInSystemMemory(c, 0x7000_0000n);
  await fireIms(c, 0, 3);
  await h.device.ims.settled();
  t.deepEqual(asked, [0x7000_0030n], 'the device asked the client for the slot, by message');
  t.true(events.some((e) => e.kind === 'ims' && e.outcome === 'failed' && /EFAULT/.test(e.detail ?? '')), 'and the interrupt failed with the client\'s EFAULT');

  // A slot straddling the end of a shared window (0xff8 bytes, so the
  // 16-byte slot at +0xff0 runs 8 bytes past it): not read in place past it.
  asked.length = 0;
  await c.dmaMap(0x200000n, 0xff8);
  await imsInSystemMemory(c, 0x200ff0n);
  await fireIms(c, 0, 0);
  await h.device.ims.settled();
  t.deepEqual(asked, [0x200ff0n], 'read by message, not from the mapping past its end');
  t.is(await c.read32(0, 0), IRQLAB_ID_MAGIC);
});

test('a DMA address past 2^64 is refused, not wrapped around to address 0', async (t) => {
  // IMS_BASE = 2^64 - 16: slot 1 sits at 2^64. Today the DMA_READ goes out for
  // address 0 (DataView.setBigUint64 wraps), the client serves it, and the
  // reply is then rejected for not matching.
  const h = startServer();
  t.teardown(() => h.close());
  const asked: bigint[] = [];
  const c = await h.connect({ tap: (dir, hd, p) => { if (dir === 'in' && hd.command === Command.DMA_READ && (hd.flags & 0xf) === 0) asked.push(decodeDmaRead(p).address); } });
  await c.write16(Region.CONFIG, 4, 0x6);
  await c.dmaMap(0n, 0x1000, { shareFd: false });
  await imsInSystemMemory(c, U64_MAX - 15n);
  await fireIms(c, 0, 1);
  await h.device.ims.settled();
  t.deepEqual(asked, [], 'no DMA_READ for an address that does not exist');
});

test('a read-only window is mapped read-only and a device write to it fails; a write-only window cannot be read', async (t) => {
  const h = startServer();
  t.teardown(() => h.close());
  const events: IrqEvent[] = [];
  h.device.on('irq', (e) => events.push(e));
  const c = await h.connect();
  await c.write16(Region.CONFIG, 4, 0x6);
  await c.dmaMap(W, 0x1000, { flags: DMA_MAP_READ });
  const maps = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(`irqlab-client-${W.toString(16)}`));
  t.true(maps.some((l) => / r--s /.test(l)), `the server's mapping is read-only:\n${maps.join('\n')}`);

  // IMS slot 2 (device memory) sends its message into the read-only window.
  for (const [o, v] of [[0, Number(W) + 0x100], [4, 0], [8, 0x5a5a5a5a], [12, 0]]) await c.write32(0, IMS_TABLE_OFFSET + 2 * 16 + o, v);
  await fireIms(c, 0, 2);
  await eventually('the failed write', () => events.some((e) => e.outcome === 'failed'));
  t.regex(events.find((e) => e.outcome === 'failed')!.detail ?? '', /not writable/);
  t.deepEqual([...c.memory.read(W + 0x100n, 4)], [0, 0, 0, 0], 'the window is untouched');

  // A write-only window holding the IMS table: the device cannot read its slots.
  await c.dmaMap(0x200000n, 0x1000, { flags: DMA_MAP_WRITE });
  c.memory.windows[1].region.write(0, imsSlot(BigInt(MSI), 0x42));
  events.length = 0;
  await imsInSystemMemory(c, 0x200000n);
  await fireIms(c, 1, 0);
  await h.device.ims.settled();
  t.true(events.some((e) => e.outcome === 'failed' && /not readable/.test(e.detail ?? '')));
  t.is(c.memory.msis.length, 0);
  t.is(await c.read32(0, 0), IRQLAB_ID_MAGIC);
});

test('DMA_UNMAP of the window the device is reading IMS slots from, while interrupts fire, neither crashes nor leaks', async (t) => {
  const s = await child(t);
  const pid = s.proc.pid!;
  const base = procStats(pid);
  let readsByMessage = 0;
  const c = await VfioUserClient.connect(s.socket, {
    tap: (dir, h, p) => { if (dir === 'in' && h.command === Command.DMA_READ && (h.flags & 0xf) === 0 && decodeDmaRead(p).address >= W && decodeDmaRead(p).address < W + 0x1000n) readsByMessage++; },
  });
  await c.write16(Region.CONFIG, 4, 0x6);
  const map = async () => {
    await c.dmaMap(W, 0x1000);
    c.memory.windows[c.memory.windows.length - 1].region.write(0, imsSlot(BigInt(MSI), 0x60));
  };
  await map();
  await imsInSystemMemory(c, W);
  await c.write32(0, QUEUE_BASE + Q.IRQ, Q_IRQ_IMS | Q_IRQ_ENABLE | 0);
  // Queue 1: IMS slot 1 in device memory writes into the same window (a DMA write to memory).
  await c.write32(0, QUEUE_BASE + 0x20 + Q.IRQ, Q_IRQ_IMS | Q_IRQ_ENABLE | 1);
  const doorbell = (q: number) => c.write32(0, QUEUE_BASE + q * 0x20 + Q.DOORBELL, 1, { posted: true });
  const rounds = 200;
  for (let i = 0; i < rounds; i++) {
    await doorbell(0);
    await c.read32(0, 0); // one interrupt read while mapped
    // A burst: the slot reads of these interrupts happen after the DMA_UNMAP in the same burst.
    const burst: Promise<unknown>[] = [doorbell(0), doorbell(0), doorbell(1), c.dmaUnmap(W, 0x1000), doorbell(0), doorbell(1)];
    await Promise.all(burst);
    await map();
  }
  await sleep(100);
  t.is(s.dead(), undefined, 'the server is alive');
  t.is(await c.read32(0, 0), IRQLAB_ID_MAGIC, 'and in sync');
  t.true(c.memory.msis.length >= rounds, `${c.memory.msis.length} interrupts delivered from the mapped window`);
  t.true(readsByMessage > 0, `${readsByMessage} slot reads found the window gone and went by message`);
  c.close();
  const end = await settle(pid, (x) => x.fds === base.fds && x.memfdMaps === 0);
  t.is(end.fds, base.fds);
  t.is(end.memfdMaps, 0);
});

test('a DMA_MAP window larger than 4 GiB with a memfd is mapped and reachable at its far end', async (t) => {
  // koffi cannot make one view of more than 4 GiB (and aborts when asked to):
  // MappedRegion makes its views per 1 GiB chunk, so a big guest RAM block
  // (QEMU shares each one as one memfd) is served.
  const s = await child(t);
  const c = await VfioUserClient.connect(s.socket);
  const size = 8n << 30n;
  const fd = createMemFd('irqlab-big', Number(size));
  t.is(await errnoOf(within(c.request(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: 0x1_0000_0000n, size }), { fds: [fd] }), 3000)), 0);
  // The device reads an IMS slot 7 GiB into the window, from the mapping, and
  // sends the message it finds there.
  const far = 7n << 30n;
  const here = MappedRegion.map(fd, far, 16, true);
  here.write(0, imsSlot(0xfee00000n, 0x4d));
  here.unmap();
  await c.write16(Region.CONFIG, 4, 0x6);
  await imsInSystemMemory(c, 0x1_0000_0000n + far);
  await fireIms(c, 0, 0, true);
  await eventually('the interrupt message', () => c.memory.msis.length === 1, 3000);
  t.is(c.memory.msis[0].data, 0x4d);
  closeFd(fd);
  c.close();
  t.is(await servesAgain(s), true);
});

test('a DMA_MAP whose memfd is shorter than the window is refused with EINVAL', async (t) => {
  // mmap() does not check the file size; touching a page past the end of the
  // file would raise SIGBUS. DMA_MAP checks offset + size against the file.
  const s = await child(t);
  const c = await VfioUserClient.connect(s.socket);
  const fd = createMemFd('irqlab-short', 4096, { seal: false });
  t.is(await errnoOf(c.request(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: W, size: 0x10000n }), { fds: [fd] })), Errno.EINVAL);
  closeFd(fd);
  c.close();
  t.is(await servesAgain(s), true);
});

test('a memfd that is not sealed against shrinking is reached by message, so shrinking it later harms nothing', async (t) => {
  // The client keeps the memfd and could ftruncate it under a mapping: the
  // server maps only files sealed with F_SEAL_SHRINK (QEMU seals its memfd
  // backends) and reaches any other window by DMA_READ/DMA_WRITE.
  const s = await child(t);
  const c = await VfioUserClient.connect(s.socket);
  await c.write16(Region.CONFIG, 4, 0x6);
  const fd = createMemFd('irqlab-shrunk', 0x10000, { seal: false });
  t.is(await errnoOf(c.request(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: W, size: 0x10000n }), { fds: [fd] })), 0);
  truncate(fd, 0);
  closeFd(fd);
  await imsInSystemMemory(c, W);
  await fireIms(c, 0, 0, true);
  c.close();
  const served = await servesAgain(s);
  t.log(`after a slot read from the shrunk memfd: server ${s.dead() ?? 'alive'}`);
  t.is(served, true);
  t.regex(s.stderr(), /not sealed against shrinking/);
});

// ---- descriptors that block, and a client's answers to the device ----------------

test('SET_IRQS with a blocking eventfd one signal from overflow: signalling it does not stall the server', async (t) => {
  // The server makes every eventfd it is given non-blocking (the flag is on
  // the shared file; QEMU's eventfds have it already): a full counter fails
  // that signal instead of blocking the event loop.
  const s = await child(t);
  const fd = saturatedBlockingEventFd();
  t.teardown(() => { drain(fd); closeFds([fd]); });
  const c = await VfioUserClient.connect(s.socket);
  await c.setIrqs({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.ERR, start: 0, count: 1 }, [fd]);
  const trigger = c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.ERR, start: 0, count: 1 });
  t.true(await within(trigger, 2000).then(() => true, () => false), 'the trigger is answered while the counter is full');
});

test('SET_IRQS with a pipe instead of an eventfd is refused with EINVAL', async (t) => {
  const s = await child(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds([r, w]));
  const c = await VfioUserClient.connect(s.socket);
  const e = await t.throwsAsync(c.setIrqs({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.ERR, start: 0, count: 1 }, [w]), { instanceOf: VfioError });
  t.is((e as VfioError).errno, Errno.EINVAL);
  await eventually('the log line', () => /not an eventfd/.test(s.stderr()));
  t.is(await c.configRead32(0), CONFIG_ID, 'the connection stays usable');
});

test('a doorbell write of 2^32-1 work items does not stall the server', async (t) => {
  // Q_DOORBELL submits n items and, with autoComplete, completes them in one
  // synchronous loop raising an interrupt each (ImsQueueDevice.submit ->
  // complete): a guest write of 0xffffffff holds the server for hours. The
  // count should be bounded (a queue depth) or worked off asynchronously.
  const s = await child(t);
  t.teardown(() => s.proc.kill('SIGKILL'));
  const c = await VfioUserClient.connect(s.socket);
  await c.write16(Region.CONFIG, 4, 0x6);
  await c.write32(0, QUEUE_BASE + Q.DOORBELL, 0xffffffff, { posted: true });
  const answered = await within(c.read32(0, 0), 2000).then(() => true, () => false);
  t.true(answered, 'the next read is answered');
});

test('a client\'s bad answers to the device\'s DMA_READ (wrong address, wrong count, short data, error, silence) fail the interrupt, nothing else', async (t) => {
  // 1.5 s: long enough for a 1 MiB answer on a loaded machine, short for the silent case.
  const h = startServer<ImsQueueDevice>(undefined, { dmaTimeoutMs: 1500 });
  t.teardown(() => h.close());
  const events: IrqEvent[] = [];
  h.device.on('irq', (e) => events.push(e));
  // A client on the bare transport, answering DMA_READ as the test says.
  let answer: (address: bigint, count: number) => Uint8Array | Promise<never> | undefined = () => undefined;
  const conn = new Connection(connectUnix(h.socket), {
    onCommand: (msg) => {
      msg.release();
      if (msg.header.command !== Command.DMA_READ) return undefined;
      const a = decodeDmaRead(msg.payload);
      return answer(a.address, a.count);
    },
  }, { maxMessageSize: 1 << 21, maxFds: 16 });
  t.teardown(() => conn.close());
  const req = async (cmd: number, payload: Uint8Array): Promise<Header> => (await conn.request(cmd, payload)).header;
  await req(Command.VERSION, encodeVersion({ major: 0, minor: 0, json: { capabilities: {} } }));
  const w32 = (offset: number, v: number, region = 0) => req(Command.REGION_WRITE, encodeRegionData({ offset: BigInt(offset), region, count: 4, data: u32(v) }));
  await req(Command.REGION_WRITE, encodeRegionData({ offset: 4n, region: Region.CONFIG, count: 2, data: new Uint8Array([6, 0]) }));
  await req(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: W, size: 0x1000n }));
  await w32(Reg.IMS_BASE_LO, Number(W));
  await w32(Reg.CTRL, CTRL_IMS_SYSMEM);
  await w32(QUEUE_BASE + Q.IRQ, Q_IRQ_IMS | Q_IRQ_ENABLE | 0);
  const slot = imsSlot(BigInt(MSI), 0x70);
  const answers: [string, typeof answer, RegExp][] = [
    ['another address', (a, n) => encodeDmaData({ address: a + 16n, count: n, data: slot }), /asked 16 at/],
    ['fewer bytes than asked', (a) => encodeDmaData({ address: a, count: 8, data: slot.subarray(0, 8) }), /reply for 8 bytes/],
    ['a count that disagrees with the data', (a) => { const p = encodeDmaData({ address: a, count: 16, data: slot }); new DataView(p.buffer).setBigUint64(8, 1n << 40n, true); return p; }, /count/],
    ['a huge payload', (a) => encodeDmaData({ address: a, count: 1 << 20, data: new Uint8Array(1 << 20) }), /reply for 1048576 bytes/],
    ['an error', () => Promise.reject(new VfioError(Errno.EFAULT, 'no such memory')), /EFAULT/],
  ];
  for (const [what, a, detail] of answers) {
    answer = a;
    events.length = 0;
    await w32(QUEUE_BASE + Q.DOORBELL, 1);
    await h.device.ims.settled();
    const failed = events.find((e) => e.kind === 'ims' && e.outcome === 'failed');
    t.truthy(failed, `${what}: the interrupt failed`);
    t.regex(failed?.detail ?? '', detail, what);
    t.false(events.some((e) => e.kind === 'ims' && e.outcome === 'delivered'), `${what}: nothing was sent`);
  }
  answer = (a, n) => encodeDmaData({ address: a, count: n, data: slot });
  events.length = 0;
  await w32(QUEUE_BASE + Q.DOORBELL, 1);
  await h.device.ims.settled();
  t.true(events.some((e) => e.kind === 'ims' && e.outcome === 'delivered' && e.address === BigInt(MSI)), 'a good answer still delivers');
  // Silence: the device gives up after its DMA timeout; the connection carries on.
  answer = () => new Promise<never>(() => {});
  events.length = 0;
  await w32(QUEUE_BASE + Q.DOORBELL, 1);
  await h.device.ims.settled();
  t.regex(events.find((e) => e.outcome === 'failed')?.detail ?? '', /no reply to DMA_READ .* within 1500 ms/);
  t.is(new DataView((await conn.request(Command.REGION_READ, encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 }))).payload.buffer).getUint32(16, true), CONFIG_ID);
});

