// PCIe ordering: an interrupt the device raises through an eventfd (MSI-X,
// MSI, INTx) reaches the client only after the posted DMA writes the device
// issued before it (src/irq/dma-ordering.ts, DeviceDma.flush). Observed at
// the client: when each DMA message arrives, has the eventfd already been
// signalled? With ordering it never has; without it (the hook switched off)
// the signal overtakes the data, as it does in QEMU.
import test from 'ava';
import { Command, IrqIndex, Region, decodeDmaRead } from '../../src/protocol/index.ts';
import { PciFunction } from '../../src/pci/function.ts';
import type { IrqEvent } from '../../src/irq/events.ts';
import type { Tap } from '../../src/transport/connection.ts';
import type { EventFd } from '../../ffi/index.ts';
import * as R from '../../src/pci/regs.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

const BASE = 0x10_0000n;
const TABLE = 0x800;

/** What the client saw arrive, and how many eventfd signals had come before each. */
interface Arrival { command: number; count: number; signalsBefore: number }

async function setUp(t: { teardown(fn: () => void): void }, opts: { shareMemory?: boolean } = {}) {
  const dev = new PciFunction({
    ids: { vendor: 0xf1ab, device: 0x00d1, classCode: 0xff0000 },
    bars: { 0: { type: 'mem32', size: 0x1000 } },
    capabilities: { msix: { vectors: 4, bar: 0, tableOffset: TABLE, pbaOffset: 0xc00 } },
  });
  const h = startServer(dev);
  t.teardown(() => h.close());
  const arrivals: Arrival[] = [];
  let evs: EventFd[] = [];
  const signals = () => evs.reduce((n, e) => (e.poll(), n + e.total), 0);
  const tap: Tap = (dir, header, payload) => {
    if (dir !== 'in' || (header.flags & 0xf) !== 0) return;
    if (header.command !== Command.DMA_READ && header.command !== Command.DMA_WRITE) return;
    const count = header.command === Command.DMA_READ ? decodeDmaRead(payload).count : payload.length - 16;
    arrivals.push({ command: header.command, count, signalsBefore: signals() });
  };
  const c = await h.connect({ tap });
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  await c.dmaMap(BASE, 1 << 20, { shareFd: opts.shareMemory === true });
  evs = await c.bindEventfds(IrqIndex.MSIX, 0, 4);
  await c.write16(Region.CONFIG, dev.caps.msix! + R.PCI_MSIX_FLAGS, R.PCI_MSIX_FLAGS_ENABLE);
  for (let v = 0; v < 4; v++) await c.write32(0, TABLE + 16 * v + 12, 0); // unmask in the table
  const events: IrqEvent[] = [];
  dev.on('irq', (e) => events.push(e));
  return { dev, c, arrivals, signals, evs, events };
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i + seed) & 0xff);
const flushes = (a: Arrival[]) => a.filter((x) => x.command === Command.DMA_READ && x.count === 0);

test('an MSI-X raised right after a posted write reaches the client after every piece of it, behind one zero-length read', async (t) => {
  const { dev, c, arrivals, signals } = await setUp(t);
  const data = bytes(100_000, 1);
  void dev.dmaWrite(BASE, data); // posted, not awaited: the interrupt follows at once
  t.is(dev.msix!.fire(0), 'queued', 'held until the write has landed');
  await eventually('the interrupt', () => signals() === 1);
  const writes = arrivals.filter((a) => a.command === Command.DMA_WRITE);
  t.is(writes.reduce((n, w) => n + w.count, 0), data.length);
  t.true(arrivals.every((a) => a.signalsBefore === 0), 'no signal before any piece or the flush arrived');
  t.is(flushes(arrivals).length, 1);
  t.is(arrivals.at(-1)!.count, 0, 'the flushing read comes after the last piece');
  t.is(Buffer.compare(Buffer.from(c.memory.read(BASE, data.length)), Buffer.from(data)), 0);
});

test('without the ordering hook the same signal overtakes the write (what QEMU shows too)', async (t) => {
  const { dev, arrivals, signals } = await setUp(t);
  dev.dmaOrdering.enabled = false;
  void dev.dmaWrite(BASE, bytes(100_000, 2));
  t.is(dev.msix!.fire(0), 'delivered');
  await eventually('the write', () => arrivals.reduce((n, a) => n + a.count, 0) === 100_000);
  t.is(arrivals[0].signalsBefore, 1, 'the eventfd was signalled before the first piece reached the client');
  t.is(flushes(arrivals).length, 0);
  t.is(signals(), 1);
});

test('with nothing outstanding an interrupt leaves at once: after a non-posted write, after a read, and with shared memory', async (t) => {
  const { dev, arrivals } = await setUp(t);
  await dev.dmaWrite(BASE, bytes(5000, 3), { posted: false });
  t.is(dev.msix!.fire(0), 'delivered', 'a non-posted write has landed when it resolves');
  void dev.dmaWrite(BASE, bytes(10, 4));
  await dev.dmaRead(BASE, 4); // its completion comes behind the posted write
  t.is(dev.msix!.fire(1), 'delivered', 'a read completion flushes the writes before it');
  t.is(flushes(arrivals).length, 0, 'no zero-length read was needed');

  const shared = await setUp(t, { shareMemory: true });
  void shared.dev.dmaWrite(BASE, bytes(100_000, 5));
  t.is(shared.dev.msix!.fire(0), 'delivered', 'shared memory is written in place: nothing to wait for');
  t.is(shared.arrivals.length, 0, 'no message at all');
});

test('interrupts raised behind a held one keep their order, and one zero-length read serves them all', async (t) => {
  const { dev, arrivals, signals, events } = await setUp(t);
  void dev.dmaWrite(BASE, bytes(64, 6));
  for (const v of [2, 0, 3, 1]) t.is(dev.msix!.fire(v), 'queued');
  await eventually('four interrupts', () => signals() === 4);
  t.deepEqual(events.filter((e) => e.outcome === 'delivered').map((e) => e.index), [2, 0, 3, 1]);
  t.is(flushes(arrivals).length, 1);
  t.is(dev.dmaOrdering.waited, 4, 'each waited for the write (one read answered them all)');
});

test('a write the client refuses still lets the interrupt behind it go (the flush fails, the wait ends)', async (t) => {
  const { dev, signals, arrivals } = await setUp(t);
  void dev.dmaWrite(0x9000_0000n, bytes(16, 7)); // nothing is exported there
  t.is(dev.msix!.fire(0), 'queued');
  await eventually('the interrupt', () => signals() === 1);
  t.is(flushes(arrivals).length, 1);
});
