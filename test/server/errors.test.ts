// Bad input from a client gets an error reply with the right errno, and the
// connection stays in sync: the next valid request on it still works.
import test from 'ava';
import {
  Command, Errno, Region, encodeRegionAccess, encodeRegionData, encodeIrqSet, encodeRegionInfo,
  encodeIrqInfo, encodeDmaMap, encodeDmaUnmap, encodeDmaRead, encodeVersion, encodeDeviceFeature, frame,
  IRQ_SET_DATA_EVENTFD, IRQ_SET_DATA_NONE, IRQ_SET_DATA_BOOL, IRQ_SET_ACTION_TRIGGER, IRQ_SET_ACTION_MASK,
  IrqIndex, MsgType, FLAG_NO_REPLY,
} from '../../src/protocol/index.ts';
import { EventFd, isFdOpen, openFdCount } from '../../ffi/index.ts';
import { IRQLAB_ID_MAGIC } from '../../src/devices/ims-queue.ts';
import { startServer, errnoOf } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import type { VfioUserClient } from '../../src/client/index.ts';
import { PciFunction } from '../../src/pci/function.ts';
import { RegisterMap } from '../../src/device/register-map.ts';

const h = startServer();
let c: VfioUserClient;

test.before(async () => {
  c = await h.connect();
  await c.write16(Region.CONFIG, 4, 0x6); // memory decode + bus master
  await c.dmaMap(0x100000n, 0x10000);
});
test.after.always(() => h.close());


async function stillInSync(t: { is: (a: unknown, b: unknown, m?: string) => void }): Promise<void> {
  t.is(await c.read32(0, 0), IRQLAB_ID_MAGIC, 'the next valid request on the same connection works');
}

const u64max = 0xffffffffffffffffn;
const rr = (offset: bigint, region: number, count: number) => encodeRegionAccess({ offset, region, count });
const irqSet = (o: { flags: number; index?: number; start?: number; count?: number; data?: Uint8Array }) =>
  encodeIrqSet({ argsz: 20 + (o.data?.length ?? 0), index: IrqIndex.MSIX, start: 0, count: 1, ...o });

const cases: [string, number, number, () => Uint8Array, (readonly number[])?][] = [
  ['REGION_READ with a 3-byte payload', Command.REGION_READ, Errno.EINVAL, () => new Uint8Array(3)],
  ['REGION_READ of region 9 (no such region)', Command.REGION_READ, Errno.EINVAL, () => rr(0n, 9, 4)],
  ['REGION_READ of BAR1 (absent, size 0)', Command.REGION_READ, Errno.EINVAL, () => rr(0n, 1, 4)],
  ['REGION_READ at an offset beyond the region', Command.REGION_READ, Errno.EINVAL, () => rr(4096n, Region.CONFIG, 4)],
  ['REGION_READ whose offset+count overflows', Command.REGION_READ, Errno.EINVAL, () => rr(u64max - 1n, Region.CONFIG, 4)],
  ['REGION_READ above the maximum transfer', Command.REGION_READ, Errno.EINVAL, () => rr(0n, 0, (1 << 20) + 1)],
  ['REGION_WRITE whose count disagrees with its data', Command.REGION_WRITE, Errno.EINVAL, () => {
    const p = encodeRegionData({ offset: 0x20n, region: 0, count: 4, data: new Uint8Array(4) });
    p[12] = 8;
    return p;
  }],
  ['REGION_WRITE to the read-only ROM region', Command.REGION_WRITE, Errno.EINVAL, () => encodeRegionData({ offset: 0n, region: Region.ROM, count: 1, data: new Uint8Array(1) })],
  ['unknown command 99', 99, Errno.ENOSYS, () => new Uint8Array(0)],
  ['retired command 14 (DIRTY_PAGES)', 14, Errno.ENOSYS, () => new Uint8Array(0)],
  ['DMA_READ sent to a server', Command.DMA_READ, Errno.EINVAL, () => encodeDmaRead({ address: 0n, count: 4 })],
  ['second VERSION', Command.VERSION, Errno.EINVAL, () => encodeVersion({ major: 0, minor: 0 })],
  ['GET_REGION_INFO with argsz below the structure', Command.DEVICE_GET_REGION_INFO, Errno.EINVAL, () => encodeRegionInfo({ argsz: 8, flags: 0, index: 0, capOffset: 0, size: 0n, offset: 0n })],
  ['GET_REGION_INFO of region 12', Command.DEVICE_GET_REGION_INFO, Errno.EINVAL, () => encodeRegionInfo({ argsz: 32, flags: 0, index: 12, capOffset: 0, size: 0n, offset: 0n })],
  ['GET_IRQ_INFO of index 7', Command.DEVICE_GET_IRQ_INFO, Errno.EINVAL, () => encodeIrqInfo({ argsz: 16, flags: 0, index: 7, count: 0 })],
  ['SET_IRQS whose start+count overflows', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, start: 0xffffffff, count: 2 })],
  ['SET_IRQS beyond the MSI-X vectors', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, start: 6, count: 3 })],
  ['SET_IRQS with two DATA flags', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_NONE | IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER })],
  ['SET_IRQS with no ACTION', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_NONE })],
  ['SET_IRQS count 0 with DATA_BOOL', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, count: 0 })],
  ['SET_IRQS of irq index 9', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: 9 })],
  ['SET_IRQS MASK on ERR (not maskable)', Command.DEVICE_SET_IRQS, Errno.EINVAL, () => irqSet({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_MASK, index: IrqIndex.ERR })],
  ['DMA_MAP overlapping an existing window', Command.DMA_MAP, Errno.EEXIST, () => encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: 0x108000n, size: 0x1000n })],
  ['DMA_MAP of size 0', Command.DMA_MAP, Errno.EINVAL, () => encodeDmaMap({ argsz: 32, flags: 3, offset: 0n, address: 0x900000n, size: 0n })],
  ['DMA_UNMAP cutting through a mapping', Command.DMA_UNMAP, Errno.EINVAL, () => encodeDmaUnmap({ argsz: 24, flags: 0, address: 0x104000n, size: 0x1000n })],
  ['DMA_UNMAP with dirty-bitmap flag', Command.DMA_UNMAP, Errno.EINVAL, () => encodeDmaUnmap({ argsz: 24, flags: 1, address: 0x100000n, size: 0x10000n })],
  ['DEVICE_FEATURE (migration)', Command.DEVICE_FEATURE, Errno.ENOTSUP, () => encodeDeviceFeature({ argsz: 16, flags: (1 << 16) | 1, data: new Uint8Array(0) })],
  ['DEVICE_RESET with a payload', Command.DEVICE_RESET, Errno.EINVAL, () => new Uint8Array(4)],
];

for (const [name, cmd, errno, payload, fds] of cases) {
  test.serial(`${name} -> ${Object.entries(Errno).find(([, v]) => v === errno)![0]}`, async (t) => {
    t.is(await errnoOf(c.request(cmd, payload(), { fds })), errno);
    await stillInSync(t);
  });
}

test.serial('SET_IRQS with a wrong number of eventfds is EINVAL and the eventfds are closed', async (t) => {
  const base = openFdCount();
  const evs = [new EventFd(), new EventFd()];
  const payload = irqSet({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, count: 3 });
  t.is(await errnoOf(c.request(Command.DEVICE_SET_IRQS, payload, { fds: evs.map((e) => e.fd) })), Errno.EINVAL);
  for (const e of evs) e.close();
  await eventually('the server to close the descriptors', () => openFdCount() === base);
  await stillInSync(t);
});

test.serial('descriptors sent with a command that takes none are closed', async (t) => {
  const base = openFdCount();
  const ev = new EventFd();
  t.is(await errnoOf(c.request(Command.REGION_READ, rr(0n, 0, 4), { fds: [ev.fd] })), 0);
  ev.close();
  await eventually('the server to close the descriptor', () => openFdCount() === base);
});

test.serial('a 4-byte config read at 0xffe, crossing the end of config space, is refused with EINVAL; the last dword reads', async (t) => {
  t.is(await errnoOf(c.request(Command.REGION_READ, rr(0xffen, Region.CONFIG, 4))), Errno.EINVAL);
  t.is(await errnoOf(c.request(Command.REGION_READ, rr(0xffcn, Region.CONFIG, 8))), Errno.EINVAL);
  t.is(await errnoOf(c.request(Command.REGION_WRITE, encodeRegionData({ offset: 0xffen, region: Region.CONFIG, count: 4, data: new Uint8Array(4) }))), Errno.EINVAL);
  const last = await c.request(Command.REGION_READ, rr(0xffcn, Region.CONFIG, 4));
  t.is(new DataView(last.payload.buffer, last.payload.byteOffset).getUint32(12, true), 4, 'the last dword is inside: served whole');
  t.true(h.logs.some((l) => /REGION_READ: 4 bytes at 0xffe do not fit in region 7 \(0x1000 bytes: offsets 0\.\.0xffc for this count\)/.test(l)), 'the log says what fits');
  await stillInSync(t);
});

test.serial('a BAR access crossing the end of its BAR is refused whole: no byte of it is written, posted or not, alone or in a REGION_WRITE_MULTI', async (t) => {
  // A BAR that is one register block: every byte of it is a register.
  const dev = new PciFunction({ ids: { vendor: 0xf1ab, device: 0x00fe, classCode: 0xff0000 }, bars: { 0: { type: 'mem32', size: 16 } } });
  dev.addRegisters(0, 0, new RegisterMap({ size: 16, registers: [0, 4, 8, 12].map((offset) => ({ name: `R${offset}`, offset })) }));
  const o = startServer(dev);
  t.teardown(() => o.close());
  const d = await o.connect();
  await d.write16(Region.CONFIG, 4, 0x2);
  const eight = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  t.is(await errnoOf(d.request(Command.REGION_READ, rr(12n, 0, 8))), Errno.EINVAL);
  t.is(await errnoOf(d.request(Command.REGION_WRITE, encodeRegionData({ offset: 12n, region: 0, count: 8, data: eight }))), Errno.EINVAL);
  await d.request(Command.REGION_WRITE, encodeRegionData({ offset: 12n, region: 0, count: 8, data: eight }), { noReply: true });
  t.is(await d.writeMulti([
    { offset: 8n, region: 0, count: 4, data: eight.subarray(0, 4) },
    { offset: 12n, region: 0, count: 8, data: eight },
  ]), 1, 'the crossing entry stops the batch');
  t.is(await d.read32(0, 12), 0, 'the register at the end of the BAR was never written');
  t.is(await d.read32(0, 8), 0x04030201, 'the entry before it was applied');
});

test.serial('a posted write with an error gets no reply and the stream stays in sync', async (t) => {
  const bad = encodeRegionData({ offset: 0n, region: 9, count: 4, data: new Uint8Array(4) });
  await c.request(Command.REGION_WRITE, bad, { noReply: true });
  await stillInSync(t);
  t.true(h.logs.some((l) => /region 9 does not exist/.test(l)));
});

test.serial('a message of an unknown type is EINVAL; a reply nobody asked for is ignored', async (t) => {
  c.sendRaw(frame(40000, Command.REGION_READ, MsgType.REPLY, new Uint8Array(20)));
  c.sendRaw(frame(40001, Command.DEVICE_RESET, 0x5 | FLAG_NO_REPLY));
  await stillInSync(t);
  t.true(h.logs.some((l) => /matches no request/.test(l)));
});

test.serial('commands before VERSION are refused with EINVAL; VERSION then works', async (t) => {
  const other = startServer();
  const d = await other.connect({ negotiate: false });
  t.is(await errnoOf(d.request(Command.REGION_READ, rr(0n, 0, 4))), Errno.EINVAL);
  t.is(await errnoOf(d.request(Command.VERSION, encodeVersion({ major: 1, minor: 0 }))), Errno.ENOTSUP);
  await d.negotiate();
  t.is(await d.configRead32(0), 0x0001f1ab);
  other.close();
});

test.serial('EventFd helper: closed descriptors are really closed', (t) => {
  const e = new EventFd();
  const fd = e.fd;
  e.close();
  t.false(isFdOpen(fd));
});

test.serial('DMA_UNMAP of a range covering whole mappings removes them; a range covering none is a no-op', async (t) => {
  await c.dmaMap(0x800000n, 0x1000);
  await c.dmaMap(0x801000n, 0x1000);
  await c.request(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address: 0x800000n, size: 0x100000n }));
  t.false(h.server.session!.ctx.dma.list().some((w) => w.address >= 0x800000n && w.address < 0x900000n));
  await c.request(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: 24, flags: 0, address: 0x40000000n, size: 0x1000n }));
  await stillInSync(t);
});

test.serial('more descriptors than max_msg_fds: EINVAL (MSG_CTRUNC), nothing leaks, the stream stays in sync', async (t) => {
  const base = openFdCount();
  const evs = Array.from({ length: 20 }, () => new EventFd());
  t.is(await errnoOf(c.request(Command.REGION_READ, rr(0n, 0, 4), { fds: evs.map((e) => e.fd) })), Errno.EINVAL);
  for (const e of evs) e.close();
  await eventually('the server to close the descriptors', () => openFdCount() === base);
  t.true(h.logs.some((l) => /more descriptors than the 16/.test(l)));
  await stillInSync(t);
});
