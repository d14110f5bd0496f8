// The outbox: replies written in place and raw frames, in order, across
// growth of its buffer; a buffer grown for one big burst is not kept.
import test from 'ava';
import { Outbox } from '../../src/transport/outbox.ts';
import { frame, readHeader, MsgType, HEADER_SIZE } from '../../src/protocol/index.ts';

test('messages come out framed and in order, across growth of the buffer', (t) => {
  const box = new Outbox();
  const sizes = [0, 4, 70_000, 20, 300_000, 1];
  sizes.forEach((n, i) => {
    const payload = new Uint8Array(n).fill(i + 1);
    if (i % 2) box.raw(frame(i, 9, MsgType.REPLY, payload));
    else box.message({ id: i, command: 9, size: 0, flags: MsgType.REPLY, error: i === 4 ? 22 : 0 }, payload);
  });
  const out = box.take().slice();
  t.is(box.size, 0, 'take empties the box');
  let at = 0;
  sizes.forEach((n, i) => {
    const h = readHeader(out, at);
    t.deepEqual(h, { id: i, command: 9, size: HEADER_SIZE + n, flags: MsgType.REPLY, error: i === 4 ? 22 : 0 });
    const p = out.subarray(at + HEADER_SIZE, at + h.size);
    t.true(p.every((b) => b === i + 1), `payload of message ${i}`);
    at += h.size;
  });
  t.is(at, out.length);
  box.raw(frame(99, 1, MsgType.COMMAND));
  t.is(readHeader(box.take()).id, 99, 'the box is reusable after a big burst');
});
