// What a device author needs beside DMA in pieces and ordered interrupts:
// an INTx pulse, plain memory in a BAR, CRC-32, register values as numbers,
// and a signal that a reset aborts. Over a real socket where a client is
// involved.
import test from 'ava';
import * as zlib from 'node:zlib';
import {
  Command, IrqIndex, Region, IRQ_SET_DATA_NONE, IRQ_SET_ACTION_UNMASK, IRQ_SET_ACTION_MASK,
} from '../../src/protocol/index.ts';
import { PciFunction } from '../../src/pci/function.ts';
import { RegisterMap } from '../../src/device/register-map.ts';
import { crc32, crc32Le } from '../../src/dma/crc32.ts';
import { DMA_PIECE } from '../../src/dma/dma-space.ts';
import * as R from '../../src/pci/regs.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

const ids = { vendor: 0xf1ab, device: 0x00d2, classCode: 0xff0000 };
const device = () => new PciFunction({ ids, bars: { 0: { type: 'mem32', size: 0x1000 }, 2: { type: 'mem64', size: 0x10000 } }, capabilities: { pcie: { flr: true } } });

async function withClient(t: { teardown(fn: () => void): void }, dev = device()) {
  const h = startServer(dev);
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  return { h, c, dev };
}

// ---- INTx pulse ------------------------------------------------------------

test('intx.pulse(): one signal; pulses while the line is masked latch one more, sent once at the unmask', async (t) => {
  const { c, dev } = await withClient(t);
  const [ev] = await c.bindEventfds(IrqIndex.INTX, 0, 1);
  const signals = () => (ev.poll(), ev.total);
  const unmask = () => c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK, index: IrqIndex.INTX, start: 0, count: 1 });
  t.is(dev.intx.pulse(), 'delivered');
  t.is(signals(), 1, 'signalled at once');
  t.is(dev.intx.pulse(), 'pending', 'vfio masked the line when it signalled: latched');
  t.is(dev.intx.pulse(), 'pending');
  t.is(signals(), 1, 'nothing more while masked');
  t.is(dev.config.u16(R.PCI_STATUS) & R.PCI_STATUS_INTERRUPT, R.PCI_STATUS_INTERRUPT, 'Interrupt Status shows the latched pulse');
  await unmask();
  t.is(signals(), 2, 'the latched pulses leave as one, at the unmask');
  await unmask();
  t.is(signals(), 2, 'and only once');
  t.false(dev.intx.asserted, 'a pulse never leaves the line up');
  t.is(dev.config.u16(R.PCI_STATUS) & R.PCI_STATUS_INTERRUPT, 0);
});

test('intx.pulse() with Interrupt Disable set is lost (the function may not assert INTx); a pulse latched before then is dropped too', async (t) => {
  const { c, dev } = await withClient(t);
  const [ev] = await c.bindEventfds(IrqIndex.INTX, 0, 1);
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE);
  const signals = () => (ev.poll(), ev.total);
  t.is(dev.intx.pulse(), 'disabled');
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  t.is(signals(), 0, 'not held for later either');
  await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_MASK, index: IrqIndex.INTX, start: 0, count: 1 });
  t.is(dev.intx.pulse(), 'pending');
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE);
  await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK, index: IrqIndex.INTX, start: 0, count: 1 });
  t.is(signals(), 0);
});

test('an INTx assertion held behind posted writes and deasserted meanwhile still leaves once, and leaves the line down', async (t) => {
  const { c, dev } = await withClient(t);
  await c.dmaMap(0x100000n, 0x10000, { shareFd: false });
  const [ev] = await c.bindEventfds(IrqIndex.INTX, 0, 1);
  void dev.dmaWrite(0x100000n, new Uint8Array(64).fill(1));
  dev.intx.assert();
  dev.intx.deassert();
  await eventually('the signal', () => ev.poll() + ev.total > 0);
  t.is(ev.total, 1);
  t.false(dev.intx.asserted);
  t.is(dev.config.u16(R.PCI_STATUS) & R.PCI_STATUS_INTERRUPT, 0);
});

// ---- memory in a BAR ---------------------------------------------------------

test('addMemory: what the client writes reads back at any size and offset, the device sees the same bytes, a reset zeroes them', async (t) => {
  const dev = device();
  const mem = dev.addMemory(2, { offset: 0x1000, size: 0x4000 });
  const regs = new RegisterMap({ size: 0x10, registers: [{ name: 'R', offset: 0 }] });
  dev.addRegisters(2, 0, regs);
  const { c } = await withClient(t, dev);
  await c.regionWrite(2, 0x1003, new Uint8Array([1, 2, 3, 4, 5]));
  t.deepEqual([...await c.regionRead(2, 0x1002, 7)], [0, 1, 2, 3, 4, 5, 0]);
  t.deepEqual([...mem.subarray(3, 8)], [1, 2, 3, 4, 5]);
  mem[0x3fff] = 0xab;
  t.is((await c.regionRead(2, 0x4fff, 1))[0], 0xab, 'the device writes, the client reads');
  t.is((await c.regionRead(2, 0x5000, 1))[0], 0, 'past the window: the BAR reads zero');
  await c.reset();
  t.true(mem.every((b) => b === 0));
  t.is(dev.addMemory(0).length, 0x1000, 'default: the whole BAR');
  t.throws(() => dev.addMemory(2, { offset: 0x2000, size: 0x100 }), { message: /overlaps BAR2 memory in BAR2/ });
  t.throws(() => dev.addMemory(2, { offset: 0xff00, size: 0x200 }), { message: /does not fit BAR2/ });
  t.throws(() => dev.addMemory(2, { offset: -1 }), { message: /offset -1 and size .* must be integers/ });
  t.throws(() => dev.addMemory(4), { message: /offset 0 and size 0 must be/ });
});

// ---- CRC-32 --------------------------------------------------------------------

test('crc32 is zlib\'s (check value of "123456789", running), crc32Le the kernel\'s crc32_le (no inversion)', (t) => {
  const check = new TextEncoder().encode('123456789');
  t.is(crc32(check), 0xcbf43926);
  t.is(crc32Le(0xffffffff, check), 0x340bc6d9, 'crc32_le(~0, ...) as pci_endpoint_test computes it');
  t.is(crc32(new Uint8Array(0)), 0);
  const data = Uint8Array.from({ length: 100_003 }, (_, i) => (i * 131 + (i >> 5)) & 0xff);
  t.is(crc32(data.subarray(50_000), crc32(data.subarray(0, 50_000))), crc32(data), 'a running CRC over pieces is the CRC of the whole');
  t.is(crc32Le(crc32Le(7, data.subarray(0, 9)), data.subarray(9)), crc32Le(7, data));
  const z = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  if (z) t.is(crc32(data), z(data), 'and Node\'s zlib.crc32 where this Node has it');
});

// ---- register values -----------------------------------------------------------

test('registers of up to 4 bytes give numbers to their hooks and from value(); 8-byte ones bigints', (t) => {
  const got: unknown[] = [];
  const m = new RegisterMap({
    size: 0x20,
    registers: [
      { name: 'A', offset: 0, reset: 0xfffffffe, write: (v, _i, old) => got.push(v + 1, old) },
      { name: 'H', offset: 4, width: 2, write: (v) => got.push(v) },
      { name: 'Q', offset: 8, width: 8, write: (v) => got.push(v) },
    ],
  });
  const a: number = m.value('A'); // no Number(...) needed
  t.is(a, 0xfffffffe);
  m.write(0, new Uint8Array([1, 0, 0, 0x80]));
  m.write(4, new Uint8Array([2, 0]));
  m.write(8, new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0x80]));
  t.deepEqual(got, [0x80000002, 0xfffffffe, 2, 0x8000000000000003n]);
  t.is(m.value64('Q'), 0x8000000000000003n);
});

// ---- reset cancels work --------------------------------------------------------

test('resetSignal: a reset aborts a transfer between its pieces; the next command gets a fresh signal', async (t) => {
  const dev = device();
  const h = startServer(dev);
  t.teardown(() => h.close());
  let reads = 0;
  const c = await h.connect({
    tap: (dir, header) => {
      if (dir !== 'in' || header.command !== Command.DMA_READ || (header.flags & 0xf) !== 0) return;
      if (++reads === 1) dev.reset('FLR in the middle'); // as the first piece arrives at the client
    },
  });
  await c.dmaMap(0x100000n, 1 << 20, { shareFd: false });
  const signal = dev.resetSignal;
  const err = await dev.dmaRead(0x100000n, 1 << 20, { signal }).catch((e: unknown) => e as Error);
  t.is(err instanceof Error && err.name, 'AbortError');
  t.is((err as Error).message, 'cancelled by FLR in the middle');
  t.true(signal.aborted);
  t.true(reads < (1 << 20) / DMA_PIECE, `${reads} of ${(1 << 20) / DMA_PIECE} pieces asked for: the rest never were`);
  t.false(dev.resetSignal.aborted, 'a fresh signal for what comes next');
  t.is((await dev.dmaRead(0x100000n, 16, { signal: dev.resetSignal })).length, 16);
  const held = dev.dmaWrite(0x100000n, new Uint8Array(8), { signal: dev.resetSignal, posted: false });
  await c.reset();
  t.is(await held.then(() => 'done', (e: Error) => e.name), 'done', 'a reset after a transfer finished changes nothing for it');
});

test('resetSignal aborts on FLR and when the client leaves', async (t) => {
  const { h, c, dev } = await withClient(t);
  const first = dev.resetSignal;
  await c.write16(Region.CONFIG, dev.caps.pcie! + R.PCI_EXP_DEVCTL, R.PCI_EXP_DEVCTL_BCR_FLR);
  t.true(first.aborted);
  t.regex((first.reason as Error).message, /function level reset/);
  const second = dev.resetSignal;
  t.false(second.aborted);
  c.close();
  await eventually('the reset after the client left', () => second.aborted);
  t.is(h.server.session, null);
});
