// Messages arrive in arbitrary pieces on a stream socket; descriptors arrive
// with the piece their sender attached them to. These tests cut real socket
// traffic at every byte and check that messages and fds come out whole.
import test from 'ava';
import { socketPair, SocketStream, EventFd, isFdOpen, openFdCount, closeFds } from '../../ffi/index.ts';
import { Connection } from '../../src/transport/connection.ts';
import type { Message } from '../../src/transport/connection.ts';
import { frame, Command, HEADER_SIZE } from '../../src/protocol/index.ts';
import { sleep } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

interface Seen {
  id: number;
  command: number;
  payload: number[];
  fds: number[];
}

function receiver() {
  const [a, b] = socketPair();
  const seen: Seen[] = [];
  const conn = new Connection(b, {
    onCommand(msg: Message) {
      seen.push({ id: msg.header.id, command: msg.header.command, payload: [...msg.payload], fds: msg.takeFds() });
      return undefined;
    },
  }, { maxMessageSize: 1 << 16, maxFds: 8 });
  const sender = new SocketStream(a, { onReadable() {}, onError() {} });
  return { seen, conn, sender };
}

const NO_REPLY = 0x10;
const seq = [
  frame(1, Command.REGION_WRITE, NO_REPLY, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0xaa, 0xbb])),
  frame(2, Command.DEVICE_RESET, NO_REPLY),
  frame(3, Command.REGION_WRITE, NO_REPLY, new Uint8Array(40).map((_, i) => i)),
];
const all = new Uint8Array(seq.reduce((n, m) => n + m.length, 0));
seq.reduce((at, m) => (all.set(m, at), at + m.length), 0);

function expectSeq(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, got: Seen[], why: string) {
  t.deepEqual(got.map((s) => [s.id, s.command, s.payload]), seq.map((m, i) => [i + 1, m[2], [...m.subarray(HEADER_SIZE)]]), why);
}

test.serial('a sequence of messages split at every byte comes out whole and in order', async (t) => {
  const { seen, conn, sender } = receiver();
  for (let k = 1; k < all.length; k++) {
    seen.length = 0;
    sender.send(all.subarray(0, k));
    await sleep(1); // let the receiver read the first piece on its own
    sender.send(all.subarray(k));
    await eventually(`3 messages (split at ${k})`, () => seen.length === 3);
    expectSeq(t, seen, `split at byte ${k}`);
  }
  conn.close();
  sender.close();
});

test.serial('a sequence dribbled one byte at a time comes out whole', async (t) => {
  const { seen, conn, sender } = receiver();
  for (let i = 0; i < all.length; i++) {
    sender.send(all.subarray(i, i + 1));
    if (i % 7 === 0) await sleep(0);
  }
  await eventually('3 message(s)', () => seen.length === 3);
  expectSeq(t, seen, 'byte by byte');
  conn.close();
  sender.close();
});

test.serial('descriptors belong to the message their chunk starts, wherever the reads fall', async (t) => {
  const { seen, conn, sender } = receiver();
  const ev = new EventFd();
  const [m1, m2, m3] = seq;
  // m1 goes out in two pieces; the second piece also carries all of m2 and
  // the fd: the fd belongs to m2 (the last message starting in that chunk).
  sender.send(m1.subarray(0, 5));
  await sleep(1);
  const chunk = new Uint8Array(m1.length - 5 + m2.length);
  chunk.set(m1.subarray(5));
  chunk.set(m2, m1.length - 5);
  sender.send(chunk, [ev.fd]);
  sender.send(m3);
  await eventually('3 message(s)', () => seen.length === 3);
  t.is(seen[0].fds.length, 0, 'm1 has no fd');
  t.is(seen[1].fds.length, 1, 'm2 has the fd');
  t.is(seen[2].fds.length, 0, 'm3 has no fd');
  t.true(isFdOpen(seen[1].fds[0]));

  // A message split with its fd on the first piece keeps its fd.
  seen.length = 0;
  sender.send(m3.subarray(0, 3), [ev.fd, ev.fd]);
  await sleep(1);
  sender.send(m3.subarray(3));
  await eventually('1 message(s)', () => seen.length === 1);
  t.is(seen[0].fds.length, 2);
  closeFds(seen[0].fds);
  ev.close();
  conn.close();
  sender.close();
});

test.serial('descriptors of a message nobody takes are closed, and closing the connection closes the rest', async (t) => {
  const base = openFdCount();
  const [a, b] = socketPair();
  let got = 0;
  const conn = new Connection(b, { onCommand() { got++; return undefined; } }, { maxMessageSize: 1 << 16, maxFds: 8 });
  const sender = new SocketStream(a, { onReadable() {}, onError() {} });
  const ev = new EventFd();
  sender.send(seq[1], [ev.fd, ev.fd, ev.fd]);
  // A partial message with fds, never completed: closed with the connection.
  sender.send(seq[0].subarray(0, 10), [ev.fd]);
  await eventually('the message', () => got === 1);
  await sleep(5);
  conn.close();
  sender.close();
  ev.close();
  t.is(openFdCount(), base);
});

test.serial('a message size that cannot be trusted closes the connection', async (t) => {
  const [a, b] = socketPair();
  let reason: Error | undefined;
  let closed = false;
  const conn = new Connection(b, { onCommand() { return undefined; }, onClose(r) { closed = true; reason = r; } }, { maxMessageSize: 1 << 16, maxFds: 8 });
  const sender = new SocketStream(a, { onReadable() {}, onError() {} });
  const bad = frame(1, Command.REGION_READ, 0, new Uint8Array(16));
  new DataView(bad.buffer).setUint32(4, 8, true); // size 8 < header
  sender.send(bad);
  await eventually('the connection to close', () => closed);
  t.regex(reason!.message, /message size 8/);
  t.true(conn.isClosed);
  sender.close();
});
