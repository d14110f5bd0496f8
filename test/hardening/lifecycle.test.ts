// 1000 sessions against one `irqlab serve`, each cut off somewhere else: at
// every message boundary of a realistic session (QEMU's order: VERSION, DMA_MAP
// with a memfd and without, device/region/irq info, config writes, SET_IRQS
// with eventfds, MSI-X and IMS interrupts from device and system memory,
// REGION_WRITE_MULTI, DMA_UNMAP, DEVICE_RESET) and inside messages (in the
// header, just after it, mid-payload, one byte short, with the message's
// descriptors already sent). The client goes away abruptly (close(2), replies
// unread) or politely (EOF, after which the server must answer what it owes and
// close). After every session the server is back to its baseline descriptors
// and mappings; after the last, its RSS is back near where it was once warm.
import test from 'ava';
import { createEventFd, createMemFd, closeFds, MappedRegion, socketPair, SocketStream } from '../../ffi/index.ts';
import { Connection } from '../../src/transport/connection.ts';
import {
  Command, Region, IrqIndex, MsgType, FLAG_NO_REPLY, HEADER_SIZE, DMA_MAP_READ, DMA_MAP_WRITE,
  IRQ_SET_DATA_NONE, IRQ_SET_DATA_EVENTFD, IRQ_SET_ACTION_TRIGGER,
  frame, encodeVersion, encodeDmaMap, encodeDmaUnmap, encodeDeviceInfo, encodeRegionInfo, encodeIrqInfo, encodeIrqSet,
  encodeRegionAccess, encodeRegionData, encodeWriteMulti, type Header,
} from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, QUEUE_BASE, QUEUE_STRIDE, Q, Q_IRQ_IMS, Q_IRQ_ENABLE, IMS_TABLE_OFFSET, MSIX_BAR, MSIX_PBA_OFFSET, CTRL_IMS_SYSMEM } from '../../src/devices/ims-queue.ts';
import { spawnServe } from '../helpers/spawn-serve.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { shutdownWrite } from '../helpers/native.ts';
import { procStats, fdTargets, settle } from '../helpers/proc-stats.ts';

const CYCLES = Number(process.env.IRQLAB_LIFECYCLE_CYCLES ?? 1000);
/**
 * RSS allowance between the server after 100 sessions and after 1000: V8 and
 * glibc keep memory they grew into (see fuzz.test.ts); a leak of 25 KB per
 * session -- one receive buffer -- would show above it.
 */
const RSS_SLACK_KB = 24 * 1024;

interface Step {
  bytes: Uint8Array;
  /** Descriptors for this message, made fresh for each session. */
  fds?: () => number[];
  what: string;
}

const caps = (() => {
  const d = new ImsQueueDevice();
  return { msix: d.caps.msix! };
})();

const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};

/** IMS slot 2 in system memory: the message the device reads by DMA when queue 2 completes. */
function sysmemTable(): number {
  const fd = createMemFd('irqlab-lifecycle', 0x10000);
  const m = MappedRegion.map(fd, 0n, 0x10000, true);
  m.write(2 * 16, new Uint8Array([0x00, 0x00, 0xe0, 0xfe, 0, 0, 0, 0, 0x52, 0, 0, 0, 0, 0, 0, 0]));
  m.unmap();
  return fd;
}

function session(): Step[] {
  let id = 0;
  const steps: Step[] = [];
  const cmd = (command: number, payload: Uint8Array, what: string, opts: { fds?: () => number[]; posted?: boolean } = {}) =>
    steps.push({ bytes: frame(++id, command, opts.posted ? FLAG_NO_REPLY : MsgType.COMMAND, payload), fds: opts.fds, what });
  const write = (region: number, offset: number, data: Uint8Array, posted = false) =>
    cmd(Command.REGION_WRITE, encodeRegionData({ offset: BigInt(offset), region, count: data.length, data }), `REGION_WRITE ${region}+0x${offset.toString(16)}`, { posted });
  const read = (region: number, offset: number, count: number) =>
    cmd(Command.REGION_READ, encodeRegionAccess({ offset: BigInt(offset), region, count }), `REGION_READ ${region}+0x${offset.toString(16)}`);
  const qreg = (q: number, r: number) => QUEUE_BASE + q * QUEUE_STRIDE + r;

  cmd(Command.VERSION, encodeVersion({ major: 0, minor: 0, json: { capabilities: { max_msg_fds: 16, max_data_xfer_size: 1 << 20, pgsizes: 4096, write_multiple: true } } }), 'VERSION');
  cmd(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: DMA_MAP_READ | DMA_MAP_WRITE, offset: 0n, address: 0x100000n, size: 0x10000n }), 'DMA_MAP memfd', { fds: () => [sysmemTable()] });
  cmd(Command.DMA_MAP, encodeDmaMap({ argsz: 32, flags: DMA_MAP_READ | DMA_MAP_WRITE, offset: 0n, address: 0x40000000n, size: 0x100000n }), 'DMA_MAP without fd');
  cmd(Command.DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 16, flags: 0, numRegions: 0, numIrqs: 0 }), 'DEVICE_GET_INFO');
  for (const index of [0, 1, 2, 3, 4, 5, 7]) {
    cmd(Command.DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz: 32, flags: 0, index, capOffset: 0, size: 0n, offset: 0n }), `GET_REGION_INFO ${index}`);
  }
  cmd(Command.DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: 16, flags: 0, index: IrqIndex.ERR, count: 0 }), 'GET_IRQ_INFO ERR');
  cmd(Command.DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: 16, flags: 0, index: IrqIndex.MSIX, count: 0 }), 'GET_IRQ_INFO MSI-X');
  read(Region.CONFIG, 0, 4);
  write(Region.CONFIG, 4, new Uint8Array([0x06, 0x00]));
  cmd(Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz: 20, flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 1 }), 'SET_IRQS MSI-X on');
  cmd(Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz: 20, flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 4 }), 'SET_IRQS MSI-X 0-3 eventfds',
    { fds: () => [0, 1, 2, 3].map(() => createEventFd()) });
  cmd(Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz: 20, flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.ERR, start: 0, count: 1 }), 'SET_IRQS ERR eventfd',
    { fds: () => [createEventFd()] });
  write(Region.CONFIG, caps.msix + 2, new Uint8Array([0x00, 0x80]));
  write(0, qreg(0, Q.IRQ), u32(Q_IRQ_ENABLE | 0), true);
  write(0, qreg(0, Q.DOORBELL), u32(2), true);
  const slot1 = IMS_TABLE_OFFSET + 16;
  cmd(Command.REGION_WRITE_MULTI, encodeWriteMulti([[0, 0xfee00000], [4, 0], [8, 0x51], [12, 0]].map(([o, v]) => ({ offset: BigInt(slot1 + o), region: 0, count: 4, data: u32(v) }))), 'REGION_WRITE_MULTI IMS slot 1');
  write(0, qreg(1, Q.IRQ), u32(Q_IRQ_IMS | Q_IRQ_ENABLE | 1), true);
  write(0, qreg(1, Q.DOORBELL), u32(1), true);
  write(0, Reg.IMS_BASE_LO, u32(0x100000), true);
  write(0, Reg.IMS_BASE_HI, u32(0), true);
  write(0, Reg.CTRL, u32(CTRL_IMS_SYSMEM), true);
  write(0, qreg(2, Q.IRQ), u32(Q_IRQ_IMS | Q_IRQ_ENABLE | 2), true);
  write(0, qreg(2, Q.DOORBELL), u32(1), true);
  read(MSIX_BAR, MSIX_PBA_OFFSET, 8);
  cmd(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address: 0x40000000n, size: 0x100000n }), 'DMA_UNMAP without fd');
  cmd(Command.DEVICE_RESET, new Uint8Array(0), 'DEVICE_RESET');
  cmd(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address: 0x100000n, size: 0x10000n }), 'DMA_UNMAP memfd');
  read(Region.CONFIG, 0, 4);
  return steps;
}

interface Cut {
  /** Whole messages sent. */
  whole: number;
  /** Bytes of the next message sent after them (0: the cut is at a boundary). */
  part: number;
}

/** Every boundary, and inside every message: in the header, at its end, mid-payload, one byte short. */
function cuts(steps: Step[]): Cut[] {
  const out: Cut[] = [];
  steps.forEach((s, i) => {
    out.push({ whole: i, part: 0 });
    const n = s.bytes.length;
    const inside = new Set([1, 8, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 1, Math.floor((HEADER_SIZE + n) / 2), n - 1]);
    for (const p of [...inside].filter((p) => p > 0 && p < n).sort((a, b) => a - b)) out.push({ whole: i, part: p });
  });
  out.push({ whole: steps.length, part: 0 });
  return out;
}

const owesReply = (s: Step) => (new DataView(s.bytes.buffer).getUint32(8, true) & FLAG_NO_REPLY) === 0;

test.serial(`${CYCLES} sessions cut at every message boundary and inside messages leak no descriptor, mapping or memory`, async (t) => {
  t.timeout(240_000);
  const served = await spawnServe(undefined, ['--quiet']);
  let dead: string | undefined;
  served.proc.once('exit', (code, sig) => { dead = `irqlab serve exited (${sig ?? `status ${code}`})`; });
  t.teardown(() => served.stop());
  const pid = served.proc.pid!;
  const base = procStats(pid);
  const steps = session();
  const all = cuts(steps);
  t.true(all.length * 2 <= CYCLES, `${all.length} cut points, each tried both ways`);
  let warmRss = 0;
  let politeReplies = 0;
  let msis = 0;

  for (let i = 0; i < CYCLES; i++) {
    const cut = all[i % all.length];
    const polite = Math.floor(i / all.length) % 2 === 1;
    const where = `session ${i}: ${cut.part ? `${cut.part} bytes into` : 'before'} ${steps[cut.whole]?.what ?? 'the end'} (after ${cut.whole} whole messages), ${polite ? 'EOF' : 'close'}`;
    const replies: Header[] = [];
    const c = await RawClient.connect(served.socket, {
      negotiate: false,
      tap: (dir, h) => { if (dir === 'in' && (h.flags & 0xf) === MsgType.REPLY) replies.push(h); },
    });
    // Let the server accept before we go: a client gone before its accept
    // would otherwise look like a session that ended.
    if ((await settle(pid, (x) => x.fds > base.fds, 3000, 1)).fds === base.fds) {
      t.fail(`${where}: the server did not accept the connection`);
      return;
    }
    c.closeGate();
    const sends = steps.slice(0, cut.whole).map((s) => ({ bytes: s.bytes, fds: s.fds }));
    if (cut.part) sends.push({ bytes: steps[cut.whole].bytes.subarray(0, cut.part), fds: steps[cut.whole].fds });
    for (const s of sends) {
      const fds = s.fds?.() ?? [];
      try {
        c.send(s.bytes, fds);
      } catch (err) {
        t.fail(`${where}: sending failed (${(err as Error).message})`);
        return;
      } finally {
        closeFds(fds);
      }
    }
    if (polite) {
      // The gate stays closed: after our EOF we cannot answer the device's DMA requests.
      shutdownWrite(c.fd);
      const closed = await Promise.race([c.waitClosed().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
      t.true(closed, `${where}: the server closes after our EOF`);
      const owed = steps.slice(0, cut.whole).filter(owesReply).length;
      t.is(replies.length, owed, `${where}: every whole command before the EOF is answered`);
      politeReplies += replies.length;
    }
    c.close();
    msis += c.msis;
    // The server holds the session's socket until the session has ended (the
    // same synchronous step closes both): back at the baseline, it is over.
    const s = await settle(pid, (x) => x.fds === base.fds && x.memfdMaps === 0, 3000, 1);
    if (s.fds !== base.fds || s.memfdMaps !== 0 || dead) {
      t.fail(`${where}: the server holds ${s.fds} descriptors (baseline ${base.fds}) and ${s.memfdMaps} memfd mappings${dead ? `; ${dead}` : ''}\n${fdTargets(pid).join('\n')}`);
      return;
    }
    if (i === 99) warmRss = s.rssKb;
  }
  const end = procStats(pid);
  t.log(`${CYCLES} sessions over ${all.length} cut points; ${politeReplies} replies to polite clients, ${msis} IMS messages; server at start ${base.fds} fds, ` +
    `${Math.round(base.rssKb / 1024)} MiB; after 100 sessions ${Math.round(warmRss / 1024)} MiB; end ${end.fds} fds, ${Math.round(end.rssKb / 1024)} MiB`);
  t.is(dead, undefined);
  t.true(msis > 0, 'sessions that got far enough raised IMS interrupts (device and system memory)');
  t.is(end.fds, base.fds);
  t.is(end.memfdMaps, 0);
  t.true(end.rssKb <= warmRss + RSS_SLACK_KB, `RSS ${end.rssKb} kB vs ${warmRss} kB after 100 sessions (+${RSS_SLACK_KB} kB allowed)`);
});

test('a reply that arrived before the peer closed is still read when the peer closed with our data unread', async (t) => {
  // The peer answers, then closes while our request is still unread in its
  // socket: the kernel marks the connection reset (ECONNRESET), epoll reports
  // POLLERR along with POLLIN, libuv turns POLLERR into a poll error (status
  // < 0, ffi/poll.ts), and the connection closes on it without reading what
  // is waiting. The answer is lost: a refused client that sent anything after
  // its VERSION can lose the EBUSY/EPERM reply, a server can lose the last
  // posted writes of a client that went away without reading its replies.
  const [a, b] = socketPair();
  const conn = new Connection(a, { onCommand: () => undefined }, { maxMessageSize: 1 << 16, maxFds: 4 });
  t.teardown(() => conn.close());
  const peer = new SocketStream(b, { onReadable() {}, onError() {} });
  const pending = conn.request(Command.REGION_READ, encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 }));
  await new Promise((r) => setTimeout(r, 20));
  peer.send(frame(1, Command.REGION_READ, MsgType.REPLY, encodeRegionData({ offset: 0n, region: Region.CONFIG, count: 4, data: u32(0x0001f1ab) })));
  peer.close();
  const reply = await pending;
  t.is(reply.header.id, 1);
});
