// Device DMA by message goes in pieces QEMU survives (DMA_PIECE, see
// src/dma/dma-space.ts): any length, every piece at most DMA_PIECE bytes,
// the range covered once, the data in order. Over a real socket, against
// the TypeScript client with memory it does not share (so every access is a
// DMA_READ or DMA_WRITE message).
import test from 'ava';
import { Command, Errno, VfioError, FLAG_NO_REPLY, decodeDmaRead, decodeDmaData } from '../../src/protocol/index.ts';
import { PciFunction } from '../../src/pci/function.ts';
import { DMA_PIECE } from '../../src/dma/dma-space.ts';
import type { Tap } from '../../src/transport/connection.ts';
import { startServer, errnoOf } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

const BASE = 0x10_0000n;
const SIZE = 4 << 20;

interface Seen { command: number; address: bigint; count: number; posted: boolean }

/** A device, a client exporting SIZE bytes at BASE without sharing them, and the DMA messages the client receives. */
async function setUp(t: { teardown(fn: () => void): void }, caps: { maxDataXferSize?: number } = {}) {
  const h = startServer(new PciFunction({ ids: { vendor: 0xf1ab, device: 0x00d0, classCode: 0xff0000 }, bars: { 0: { type: 'mem32', size: 0x1000 } } }));
  t.teardown(() => h.close());
  const seen: Seen[] = [];
  const tap: Tap = (dir, header, payload) => {
    if (dir !== 'in' || (header.flags & 0xf) !== 0) return;
    if (header.command === Command.DMA_READ) {
      const a = decodeDmaRead(payload);
      seen.push({ command: header.command, address: a.address, count: a.count, posted: false });
    } else if (header.command === Command.DMA_WRITE) {
      const d = decodeDmaData(payload, 'DMA_WRITE');
      seen.push({ command: header.command, address: d.address, count: d.count, posted: (header.flags & FLAG_NO_REPLY) !== 0 });
    }
  };
  const c = await h.connect({ tap, capabilities: caps });
  await c.dmaMap(BASE, SIZE, { shareFd: false });
  return { h, c, seen, dev: h.device };
}

const pattern = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed + (i >> 9)) & 0xff);

/** The first offset where a and b differ, -1 when equal (ava's deepEqual is slow on megabytes). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return Math.min(a.length, b.length);
}

/** The pieces cover [address, address+length) once, each at most `piece` bytes. */
function coverage(t: { true(v: boolean, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, pieces: Seen[], address: bigint, length: number, piece: number): void {
  const sorted = [...pieces].sort((a, b) => (a.address < b.address ? -1 : 1));
  let at = address;
  for (const p of sorted) {
    t.true(p.count <= piece && p.count > 0, `a piece of ${p.count} bytes (at most ${piece})`);
    t.is(p.address, at, 'pieces touch, no gap and no overlap');
    at += BigInt(p.count);
  }
  t.is(at, address + BigInt(length), 'the pieces end where the transfer ends');
  t.is(pieces.length, Math.ceil(length / piece));
}

for (const length of [1, DMA_PIECE, DMA_PIECE + 1, (1 << 20) + 3]) {
  test(`a device read of ${length} bytes by message: pieces of at most ${DMA_PIECE} bytes, the range covered once, the data in order`, async (t) => {
    const { c, seen, dev } = await setUp(t);
    const at = BASE + 0x1235n;
    const data = pattern(length, 3);
    c.memory.write(at, data);
    const got = await dev.dmaRead(at, length);
    t.is(firstDifference(got, data), -1, 'every byte as in memory');
    coverage(t, seen.filter((s) => s.command === Command.DMA_READ), at, length, DMA_PIECE);
  });
}

test('a posted device write of 1 MiB + 5 by message: pieces in address order, all posted, every byte lands', async (t) => {
  const { c, seen, dev } = await setUp(t);
  const at = BASE + 0x777n;
  const data = pattern((1 << 20) + 5, 9);
  await dev.dmaWrite(at, data);
  await eventually('every piece to land', () => seen.reduce((n, s) => n + s.count, 0) === data.length);
  t.is(firstDifference(c.memory.read(at, data.length), data), -1, 'every byte landed');
  t.true(seen.every((s) => s.command === Command.DMA_WRITE && s.posted), 'every piece is a posted DMA_WRITE');
  t.deepEqual(seen.map((s) => s.address), [...seen].map((s) => s.address).sort((a, b) => (a < b ? -1 : 1)), 'sent in address order');
  coverage(t, seen, at, data.length, DMA_PIECE);
});

test('a non-posted device write resolves only once every piece has landed', async (t) => {
  const { c, seen, dev } = await setUp(t);
  const data = pattern(3 * DMA_PIECE + 100, 4);
  await dev.dmaWrite(BASE, data, { posted: false });
  t.is(firstDifference(c.memory.read(BASE, data.length), data), -1, 'all there when the promise resolves');
  t.true(seen.every((s) => !s.posted));
  coverage(t, seen, BASE, data.length, DMA_PIECE);
});

test('a client announcing a smaller max_data_xfer_size gets pieces of that size', async (t) => {
  const { c, seen, dev } = await setUp(t, { maxDataXferSize: 4096 });
  const data = pattern(20_000, 1);
  c.memory.write(BASE, data);
  t.is(firstDifference(await dev.dmaRead(BASE, data.length), data), -1);
  coverage(t, seen, BASE, data.length, 4096);
});

test('a piece the client refuses fails the whole transfer with its errno, and the pieces after it are not asked for', async (t) => {
  const { seen, dev } = await setUp(t);
  // Only the first piece lies in exported memory: the client answers the rest with EFAULT.
  const at = BASE + BigInt(SIZE - DMA_PIECE);
  t.is(await errnoOf(dev.dmaRead(at, 40 * DMA_PIECE)), Errno.EFAULT);
  t.true(seen.length < 20, `${seen.length} of 40 pieces asked for before the failure stopped the transfer`);
  const e = await dev.dmaWrite(at, new Uint8Array(2 * DMA_PIECE), { posted: false }).catch((err: unknown) => err);
  t.true(e instanceof VfioError && e.errno === Errno.EFAULT, String(e));
});
