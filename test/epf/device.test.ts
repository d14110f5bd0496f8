// pci-epf-test over a real socket with the TypeScript client, as
// pci_endpoint_test.c drives it: identity, registers, every command's status
// bits, interrupts of each type, DMA transfers with the kernel's CRC.
import test from 'ava';
import * as R from '../../src/pci/regs.ts';
import {
  Reg, Command, Status, Cap, IrqType, NO_BAR, MSIX_TABLE_OFFSET, DEFAULT_BAR_SIZES,
  EPF_TEST_VENDOR_ID, EPF_TEST_DEVICE_ID,
} from '../../src/devices/pci-epf-test.ts';
import { walkCaps } from '../pci/conformance.ts';
import { Host, cfg } from './host.ts';
import { sleep } from '../helpers/server.ts';

async function host(t: { teardown(fn: () => void): void }, opts = {}): Promise<Host> {
  const h = await Host.start(opts);
  t.teardown(() => h.close());
  return h;
}

test('identity: 16c3:edda, class "other", INTA, six 32-bit memory BARs the driver maps', async (t) => {
  const h = await host(t);
  const c = h.c;
  t.is(await c.read16(cfg, R.PCI_VENDOR_ID), EPF_TEST_VENDOR_ID);
  t.is(await c.read16(cfg, R.PCI_DEVICE_ID), EPF_TEST_DEVICE_ID);
  t.is((await c.configRead32(R.PCI_REVISION_ID)) >>> 8, 0xff0000);
  t.is(await c.read8(cfg, R.PCI_INTERRUPT_PIN), 1);
  const sizes = [];
  for (let b = 0; b < 6; b++) {
    const at = R.PCI_BASE_ADDRESS_0 + 4 * b;
    await c.configWrite32(at, 0xffffffff);
    const v = await c.configRead32(at);
    t.is(v & 0xf, 0, `BAR${b}: 32-bit memory, not prefetchable`);
    sizes.push((~(v & ~0xf) >>> 0) + 1);
  }
  t.deepEqual(sizes.slice(1), DEFAULT_BAR_SIZES);
  t.true(sizes[0] >= MSIX_TABLE_OFFSET + 2048 * 16, 'BAR0 holds the registers and a 2048-entry MSI-X table');
});

test('capabilities: MSI with 32 vectors, 64-bit and per-vector masking; MSI-X with 2048 vectors in BAR0', async (t) => {
  const h = await host(t);
  const caps = await walkCaps(h.c);
  const msi = caps.get(R.PCI_CAP_ID_MSI)!;
  const f = await h.c.read16(cfg, msi + R.PCI_MSI_FLAGS);
  t.is((f & R.PCI_MSI_FLAGS_QMASK) >> 1, 5, '32 vectors capable');
  t.truthy(f & R.PCI_MSI_FLAGS_64BIT);
  t.truthy(f & R.PCI_MSI_FLAGS_MASKBIT);
  const msix = caps.get(R.PCI_CAP_ID_MSIX)!;
  t.is(((await h.c.read16(cfg, msix + R.PCI_MSIX_FLAGS)) & R.PCI_MSIX_FLAGS_QSIZE) + 1, 2048);
  t.is(await h.c.configRead32(msix + R.PCI_MSIX_TABLE), MSIX_TABLE_OFFSET | 0);
  t.true(caps.has(R.PCI_CAP_ID_EXP) && caps.has(R.PCI_CAP_ID_PM));
});

test('registers: reset values, MAGIC keeps a pattern (the BAR0 test), CAPS is read-only, DEVICE_RESET restores them', async (t) => {
  const h = await host(t);
  const caps = Cap.UNALIGNED_ACCESS | Cap.MSI | Cap.MSIX | Cap.INTX | Cap.SUBRANGE_MAPPING | Cap.DYNAMIC_INBOUND_MAPPING;
  const expected: Record<number, number> = {
    [Reg.MAGIC]: 0, [Reg.COMMAND]: 0, [Reg.STATUS]: 0, [Reg.SRC_ADDR_LO]: 0, [Reg.SIZE]: 0, [Reg.CHECKSUM]: 0,
    [Reg.IRQ_TYPE]: 0, [Reg.IRQ_NUMBER]: 0, [Reg.FLAGS]: 0, [Reg.CAPS]: caps, [Reg.DB_BAR]: NO_BAR,
  };
  for (const [reg, v] of Object.entries(expected)) t.is(await h.read(Number(reg)), v, `register 0x${Number(reg).toString(16)}`);
  await h.write(Reg.MAGIC, 0xa0a0a0a0);
  t.is(await h.read(Reg.MAGIC), 0xa0a0a0a0);
  await h.write(Reg.CAPS, 0);
  t.is(await h.read(Reg.CAPS), caps);
  await h.write(Reg.SIZE, 1234);
  await h.c.reset();
  await h.c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY);
  t.is(await h.read(Reg.MAGIC), 0);
  t.is(await h.read(Reg.SIZE), 0);
});

test('BAR1-BAR5 are memory: a pattern written over a whole BAR reads back, and BARs do not alias', async (t) => {
  const h = await host(t);
  for (let b = 1; b <= 5; b++) {
    const size = DEFAULT_BAR_SIZES[b - 1];
    await h.c.regionWrite(b, 0, new Uint8Array(size).fill(0xa0 + b));
  }
  for (let b = 1; b <= 5; b++) {
    const size = DEFAULT_BAR_SIZES[b - 1];
    t.deepEqual(await h.c.regionRead(b, 0, size), new Uint8Array(size).fill(0xa0 + b), `BAR${b}`);
  }
});

test('RAISE_MSI_IRQ n: STATUS says IRQ_RAISED and MSI vector n-1 is signalled, for n = 1..32', async (t) => {
  const h = await host(t);
  await h.enableMsi(32);
  for (let n = 1; n <= 32; n++) {
    const status = await h.command(Command.RAISE_MSI_IRQ, { irqType: IrqType.MSI, irqNumber: n });
    t.is(status, Status.IRQ_RAISED);
    await h.signalled(h.msi[n - 1], 1, `MSI ${n}`);
  }
  t.deepEqual(h.msi.map((e) => e.total), new Array(32).fill(1), 'each vector once, no other');
});

test('RAISE_MSIX_IRQ n: vector n-1 is signalled, up to the last of the 2048', async (t) => {
  const h = await host(t, { msixVectors: 2048 });
  await h.enableMsix(2048);
  for (const n of [1, 2, 1000, 2048]) {
    await h.command(Command.RAISE_MSIX_IRQ, { irqType: IrqType.MSIX, irqNumber: n });
    await h.signalled(h.msix[n - 1], 1, `MSI-X ${n}`);
  }
  t.is(h.msix.reduce((a, e) => a + e.total, 0), 4);
});

test('RAISE_INTX_IRQ: a pulse -- one interrupt, the line drops after it, and one raised while automasked waits for the unmask', async (t) => {
  const h = await host(t);
  await h.enableIntx();
  await h.command(Command.RAISE_INTX_IRQ, { irqType: IrqType.INTX, irqNumber: 0 });
  await h.signalled(h.intx[0], 1, 'INTx');
  t.falsy((await h.c.read16(cfg, R.PCI_STATUS)) & R.PCI_STATUS_INTERRUPT, 'line dropped once sent');
  // Not unmasked yet (the guest has not EOI'd): the next pulse is held...
  await h.command(Command.RAISE_INTX_IRQ, { irqType: IrqType.INTX, irqNumber: 0 });
  await sleep(50);
  t.is(h.intx[0].total, 1, 'held while automasked');
  t.truthy((await h.c.read16(cfg, R.PCI_STATUS)) & R.PCI_STATUS_INTERRUPT, 'line up while held');
  await h.unmaskIntx();
  await h.signalled(h.intx[0], 2, 'INTx after unmask');
  await h.unmaskIntx();
  await sleep(50);
  t.is(h.intx[0].total, 2, 'a pulse, not a level: nothing more after the next unmask');
});

test('COMMAND reads back while a command waits, and commands run in order, each raising its own interrupt', async (t) => {
  const h = await host(t);
  await h.enableMsi(32);
  const order: number[] = [];
  h.device.on('irq', (e) => { if (e.kind === 'msi') order.push(e.index); });
  h.device.faults.add({ on: 'dma', direction: 'read', action: { delay: 100 }, count: 1 });
  h.fill(0x1000_0000n, 4096);
  await h.write(Reg.SRC_ADDR_LO, 0x1000_0000);
  await h.write(Reg.DST_ADDR_LO, 0x1010_0000);
  await h.write(Reg.SIZE, 4096);
  await h.write(Reg.IRQ_TYPE, IrqType.MSI);
  await h.write(Reg.IRQ_NUMBER, 1);
  await h.write(Reg.COMMAND, Command.COPY);
  await h.write(Reg.IRQ_NUMBER, 2);
  await h.write(Reg.COMMAND, Command.RAISE_MSI_IRQ);
  t.is(await h.read(Reg.COMMAND), Command.RAISE_MSI_IRQ, 'the last command written, not picked up yet');
  await h.device.idle();
  t.is(await h.read(Reg.COMMAND), 0, 'all picked up');
  t.deepEqual(order, [0, 1], 'COPY (MSI 1) before RAISE (MSI 2)');
});

test('RAISE_INTX_IRQ with Interrupt Disable set: the pulse is lost, not delivered when INTx is enabled again', async (t) => {
  const h = await host(t);
  await h.enableIntx();
  await h.c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER | R.PCI_COMMAND_INTX_DISABLE);
  t.is(await h.command(Command.RAISE_INTX_IRQ, { irqType: IrqType.INTX, irqNumber: 0 }), Status.IRQ_RAISED);
  t.falsy((await h.c.read16(cfg, R.PCI_STATUS)) & R.PCI_STATUS_INTERRUPT, 'not asserted');
  await h.c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  await sleep(50);
  t.is(h.intx[0].total, 0);
  await h.command(Command.RAISE_INTX_IRQ, { irqType: IrqType.INTX, irqNumber: 0 });
  await h.signalled(h.intx[0], 1, 'the next pulse');
});
