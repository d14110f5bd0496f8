// The outbox on a real socket pair: replies written in place and framed
// messages leave in order, in one send per burst, across growth of its
// buffer; messages with descriptors go after what waits; outside a burst,
// what a tick produced leaves at the end of the tick.
import test from 'ava';
import { Outbox } from '../../src/transport/outbox.ts';
import { frame, readHeader, MsgType, HEADER_SIZE } from '../../src/protocol/index.ts';
import { socketPair, SocketStream, createEventFd, closeFd, isFdOpen, type RecvResult } from '../../ffi/index.ts';
import { eventually } from '../helpers/eventually.ts';

function pair() {
  const [a, b] = socketPair();
  const errors: unknown[] = [];
  const tx = new SocketStream(a, { onReadable() {}, onError: (e) => errors.push(e) });
  const got: Uint8Array[] = [];
  const fds: number[] = [];
  const rx: SocketStream = new SocketStream(b, {
    onReadable() {
      for (let r: RecvResult | null; (r = rx.recv()) && r.data.length;) {
        got.push(r.data.slice());
        fds.push(...r.fds);
      }
    },
    onError: (e) => errors.push(e),
  });
  const bytes = () => {
    const all = new Uint8Array(got.reduce((n, g) => n + g.length, 0));
    let at = 0;
    for (const g of got) {
      all.set(g, at);
      at += g.length;
    }
    return all;
  };
  return { tx, rx, bytes, fds, errors, close: () => { tx.close(); rx.close(); } };
}

test('a burst leaves framed and in order, across growth of the buffer, and nothing before its end', async (t) => {
  const p = pair();
  t.teardown(p.close);
  const box = new Outbox(p.tx, (e) => p.errors.push(e));
  const sizes = [0, 4, 70_000, 20, 30_000, 1];
  box.hold();
  sizes.forEach((n, i) => {
    const payload = new Uint8Array(n).fill(i + 1);
    if (i % 2) box.send(frame(i, 9, MsgType.REPLY, payload));
    else box.message({ id: i, command: 9, size: 0, flags: MsgType.REPLY, error: i === 4 ? 22 : 0 }, payload);
  });
  const total = sizes.reduce((n, s) => n + HEADER_SIZE + s, 0);
  t.is(box.size, total, 'held until the burst ends');
  box.flush();
  t.is(box.size, 0);
  await eventually('all bytes to arrive', () => p.bytes().length === total);
  const out = p.bytes();
  let at = 0;
  sizes.forEach((n, i) => {
    const h = readHeader(out, at);
    t.deepEqual(h, { id: i, command: 9, size: HEADER_SIZE + n, flags: MsgType.REPLY, error: i === 4 ? 22 : 0 });
    t.true(out.subarray(at + HEADER_SIZE, at + h.size).every((b) => b === i + 1), `payload of message ${i}`);
    at += h.size;
  });
  t.deepEqual(p.errors, []);
});

test('outside a burst, a tick\'s messages leave together at its end; one with descriptors goes after what waits', async (t) => {
  const p = pair();
  t.teardown(p.close);
  const box = new Outbox(p.tx, (e) => p.errors.push(e));
  box.send(frame(1, 9, MsgType.COMMAND));
  box.send(frame(2, 9, MsgType.COMMAND));
  t.is(box.size, 2 * HEADER_SIZE, 'queued for the end of the tick');
  const ev = createEventFd();
  box.send(frame(3, 9, MsgType.COMMAND), [ev]);
  closeFd(ev);
  t.is(box.size, 0, 'the message with a descriptor pushed out what waited first');
  await eventually('three messages', () => p.bytes().length === 3 * HEADER_SIZE);
  const out = p.bytes();
  t.deepEqual([0, 1, 2].map((i) => readHeader(out, i * HEADER_SIZE).id), [1, 2, 3]);
  t.is(p.fds.length, 1, 'the descriptor arrived');
  t.true(isFdOpen(p.fds[0]));
  closeFd(p.fds[0]);
  box.send(frame(4, 9, MsgType.COMMAND));
  await eventually('the message of the next tick', () => p.bytes().length === 4 * HEADER_SIZE);
});
