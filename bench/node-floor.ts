// node-floor: bench/c/floor.c in Node, on irqlab's own fd layer (ffi/:
// koffi, libuv readiness through koffi.node.poll). Same answers, same framing,
// no protocol logic, no device: what is left between it and the C floor is
// the cost of Node + libuv + koffi per message; what is left between irqlab
// and it is irqlab's own code. Like the C floor it makes one recvmsg per
// readiness event (libuv's poll is level-triggered: what is left is reported
// again) and one send for all the replies of a read.
//
// With --poll-us N it polls as the C floor does with that option: after a
// burst it keeps reading without blocking for up to N us, yielding the CPU
// between tries, all in the one readiness callback (no event loop turn
// between messages, which irqlab's poll mode keeps so that promises run in
// order): the least a polling server in Node can cost.
//
//   node --import tsx bench/node-floor.ts --socket PATH [--poll-us N]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { UnixListener, SocketStream, closeFd, yieldCpu } from '../ffi/index.ts';
import { Bytes } from '../src/transport/bytes.ts';

const VERSION = 1;
const REGION_READ = 9;
const REGION_WRITE = 10;
const REGION_WRITE_MULTI = 15;
const REPLY = 0x1;
const NO_REPLY = 0x10;
const ERROR = 0x20;
const EINVAL = 22;
const ENOSYS = 38;
const MAX_MSG = (1 << 20) + 4096;

const versionPayload = (() => {
  const json = new TextEncoder().encode('{"capabilities":{"max_msg_fds":1,"max_data_xfer_size":1048576,"max_dma_maps":65535,"pgsizes":4096,"write_multiple":true}}\0');
  const p = new Uint8Array(4 + json.length);
  p.set(json, 4);
  return p;
})();

function serve(fd: number, pollUs: number, onEnd: () => void): void {
  const input = new Bytes(256 * 1024);
  const out = new Bytes(256 * 1024);

  const reply = (id: number, command: number, payload: number, flags = 0, error = 0): number => {
    const at = out.reserve(16 + payload);
    const v = out.view;
    v.setUint16(at, id, true);
    v.setUint16(at + 2, command, true);
    v.setUint32(at + 4, 16 + payload, true);
    v.setUint32(at + 8, REPLY | flags, true);
    v.setUint32(at + 12, error, true);
    return at + 16;
  };

  // The destination is computed before out.buf is read: reply() may replace it.
  const copyTo = (bytes: Uint8Array, to: number) => out.buf.set(bytes, to);

  const answer = (at: number, size: number): void => {
    const v = input.view;
    const id = v.getUint16(at, true);
    const command = v.getUint16(at + 2, true);
    const flags = v.getUint32(at + 8, true);
    const len = size - 16;
    const p = at + 16;
    const wants = (flags & NO_REPLY) === 0;
    switch (command) {
      case VERSION:
        copyTo(versionPayload, reply(id, command, versionPayload.length));
        return;
      case REGION_READ: {
        if (len < 16) break;
        const count = v.getUint32(p + 12, true);
        if (count > 1 << 20) break;
        const to = reply(id, command, 16 + count);
        out.buf.set(input.buf.subarray(p, p + 16), to);
        out.buf.fill(0, to + 16, to + 16 + count);
        return;
      }
      case REGION_WRITE:
        if (!wants) return;
        if (len < 16) break;
        copyTo(input.buf.subarray(p, p + 16), reply(id, command, 16));
        return;
      case REGION_WRITE_MULTI:
        if (!wants) return;
        if (len < 8) break;
        copyTo(input.buf.subarray(p, p + 8), reply(id, command, 8));
        return;
      default:
        if (wants) reply(id, command, 0, ERROR, ENOSYS);
        return;
    }
    if (wants) reply(id, command, 0, ERROR, EINVAL);
  };

  // Reads once and answers what came; false when nothing did (or the peer left).
  const readOnce = (): boolean => {
    try {
      const r = stream.recv();
      if (!r) return false;
      if (r.data.length === 0) {
        stream.close();
        onEnd();
        return false;
      }
      for (const extra of r.fds) closeFd(extra);
      const to = input.reserve(r.data.length);
      input.buf.set(r.data, to);
      let at = 0;
      out.len = 0;
      while (input.len - at >= 16) {
        const size = input.view.getUint32(at + 4, true);
        if (size < 16 || size > MAX_MSG) throw new Error(`message size ${size}: closing`);
        if (input.len - at < size) break;
        answer(at, size);
        at += size;
      }
      input.buf.copyWithin(0, at, input.len);
      input.len -= at;
      if (out.len) stream.send(out.buf.subarray(0, out.len));
      return true;
    } catch (err) {
      process.stderr.write(`node-floor: ${(err as Error).message}\n`);
      stream.close();
      onEnd();
      return false;
    }
  };

  const stream: SocketStream = new SocketStream(fd, {
    onReadable: () => {
      if (!readOnce() || pollUs === 0) return;
      for (let end = performance.now() + pollUs / 1000; performance.now() < end;) {
        yieldCpu();
        if (readOnce()) end = performance.now() + pollUs / 1000;
        else if (stream.isClosed) return;
      }
    },
    onError: (err) => {
      process.stderr.write(`node-floor: ${(err as Error).message}\n`);
      stream.close();
      onEnd();
    },
  }, 16);
}

const { values } = parseArgs({ options: { socket: { type: 'string' }, 'poll-us': { type: 'string' } } });
const pollUs = Number(values['poll-us'] ?? 0);
if (!values.socket || !Number.isInteger(pollUs) || pollUs < 0) {
  process.stderr.write('usage: node-floor --socket PATH [--poll-us N]\n');
  process.exit(2);
}
let busy = false;
const listener = new UnixListener(values.socket, (fd) => {
  if (busy) {
    closeFd(fd);
    return;
  }
  busy = true;
  serve(fd, pollUs, () => (busy = false));
}, (err) => process.stderr.write(`node-floor: ${(err as Error).message}\n`));
process.stdout.write(`listening on ${values.socket}\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    listener.close();
    process.exit(0);
  });
}
