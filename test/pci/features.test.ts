// PCI features the reference and example devices do not use, through a real
// socket: MSI with per-vector masking, an expansion ROM, an I/O BAR and a
// large prefetchable 64-bit BAR.
import test from 'ava';
import { PciFunction } from '../../src/pci/function.ts';
import * as R from '../../src/pci/regs.ts';
import { Region, IrqIndex, REGION_INFO_FLAG_READ, REGION_INFO_FLAG_WRITE } from '../../src/protocol/index.ts';
import { startServer, sleep } from '../helpers/server.ts';
import { walkCaps } from './conformance.ts';

function device(): PciFunction {
  const rom = new Uint8Array(3000);
  rom.set([0x55, 0xaa, 0x06]);
  return new PciFunction({
    ids: { vendor: 0xf1ab, device: 0x0003, classCode: 0xff0000 },
    bars: {
      0: { type: 'io', size: 32 },
      2: { type: 'mem64', size: 2 ** 33, prefetchable: true },
    },
    rom,
    capabilities: { pm: true, msi: { vectors: 4, is64: true, perVectorMask: true } },
  });
}

test('MSI: enabled vectors deliver; a masked vector sets its pending bit and is sent when unmasked', async (t) => {
  const h = startServer(device());
  t.teardown(() => h.close());
  const c = await h.connect();
  const msi = (await walkCaps(c)).get(R.PCI_CAP_ID_MSI)!;
  t.truthy(msi, 'MSI capability present');
  const flags = await c.read16(Region.CONFIG, msi + R.PCI_MSI_FLAGS);
  t.is((flags & R.PCI_MSI_FLAGS_QMASK) >> 1, 2, '4 vectors capable');
  t.truthy(flags & R.PCI_MSI_FLAGS_64BIT);
  t.truthy(flags & R.PCI_MSI_FLAGS_MASKBIT);
  t.is((await c.irqInfo(IrqIndex.MSI)).count, 4);
  const evs = await c.bindEventfds(IrqIndex.MSI, 0, 4);
  await c.write16(Region.CONFIG, R.PCI_COMMAND, 0x6);
  // Enable with 2 vectors (Multiple Message Enable = 1).
  await c.write16(Region.CONFIG, msi + R.PCI_MSI_FLAGS, R.PCI_MSI_FLAGS_ENABLE | (1 << 4));
  h.device.msi!.fire(1);
  h.device.msi!.fire(3); // not enabled: only 2 vectors
  await sleep(20);
  t.deepEqual(evs.map((e) => e.total), [0, 1, 0, 0]);
  const maskAt = msi + 16;
  await c.configWrite32(maskAt, 0b10);
  h.device.msi!.fire(1);
  await sleep(20);
  t.is(evs[1].total, 1, 'held while masked');
  t.is(await c.configRead32(maskAt + 4), 0b10, 'pending bit set');
  await c.configWrite32(maskAt, 0);
  await sleep(20);
  t.is(evs[1].total, 2, 'sent on unmask');
  t.is(await c.configRead32(maskAt + 4), 0, 'pending bit cleared');
});

test('expansion ROM: region 6 read-only with the image, the ROM BAR sizes like hardware', async (t) => {
  const h = startServer(device());
  t.teardown(() => h.close());
  const c = await h.connect();
  const info = await c.regionInfo(Region.ROM);
  t.is(info.size, 4096n, 'rounded up to a power of two');
  t.is(info.flags, REGION_INFO_FLAG_READ);
  t.deepEqual([...(await c.regionRead(Region.ROM, 0, 3))], [0x55, 0xaa, 0x06]);
  await c.configWrite32(R.PCI_ROM_ADDRESS, 0xffffffff);
  t.is(await c.configRead32(R.PCI_ROM_ADDRESS), (0xfffff000 | R.PCI_ROM_ADDRESS_ENABLE) >>> 0);
});

test('an I/O BAR decodes only with I/O space enabled; a 8 GiB prefetchable 64-bit BAR sizes across both halves', async (t) => {
  const h = startServer(device());
  t.teardown(() => h.close());
  const c = await h.connect();
  t.is(await c.configRead32(R.PCI_BASE_ADDRESS_0), 1, 'I/O space indicator');
  await c.configWrite32(R.PCI_BASE_ADDRESS_0, 0xffffffff);
  t.is(await c.configRead32(R.PCI_BASE_ADDRESS_0), 0xffffffe1, 'size 32 and the I/O bit');
  const info = await c.regionInfo(0);
  t.is(info.size, 32n);
  t.is(info.flags, REGION_INFO_FLAG_READ | REGION_INFO_FLAG_WRITE);
  // No window in the BAR: reads are zero once decoding is on, all-ones before.
  t.deepEqual([...(await c.regionRead(0, 0, 4))], [0xff, 0xff, 0xff, 0xff]);
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_IO);
  t.deepEqual([...(await c.regionRead(0, 0, 4))], [0, 0, 0, 0]);
  const lo = R.PCI_BASE_ADDRESS_0 + 8;
  t.is(await c.configRead32(lo), 0xc, '64-bit, prefetchable');
  await c.configWrite32(lo, 0xffffffff);
  await c.configWrite32(lo + 4, 0xffffffff);
  t.is(await c.configRead32(lo), 0xc, 'no address bits below 4 GiB');
  t.is(await c.configRead32(lo + 4), 0xfffffffe, 'size 8 GiB in the upper half');
  t.is((await c.regionInfo(2)).size, 2n ** 33n);
});
