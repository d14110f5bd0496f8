// What the host can get wrong, and what a reset does to work in flight: bad
// commands and interrupt numbers are guest errors (logged, nothing sent), the
// server keeps serving, and a reset cancels what is running.
import test from 'ava';
import { Reg, Command, Status, IrqType } from '../../src/devices/pci-epf-test.ts';
import * as R from '../../src/pci/regs.ts';
import { walkCaps } from '../pci/conformance.ts';
import { Host, BY_MESSAGE, cfg } from './host.ts';
import { sleep } from '../helpers/server.ts';
import { eventually } from '../../src/lab/eventually.ts';

async function host(t: { teardown(fn: () => void): void }): Promise<Host> {
  const h = await Host.start();
  t.teardown(() => h.close());
  return h;
}

test('unknown or combined COMMAND bits and an IRQ_TYPE above 2 are guest errors: nothing happens, the next command works', async (t) => {
  const h = await host(t);
  await h.enableMsi(32);
  for (const [command, irqType, why] of [
    [1 << 10, IrqType.MSI, /COMMAND 0x400 is not one command bit/],
    [Command.READ | Command.WRITE, IrqType.MSI, /COMMAND 0x18 is not one command bit/],
    [Command.RAISE_MSI_IRQ, 3, /IRQ_TYPE 3 is not 0 \(INTx\), 1 \(MSI\) or 2 \(MSI-X\)/],
  ] as const) {
    h.guestErrors.length = 0;
    t.is(await h.command(command, { irqType }), 0, 'no status');
    t.regex(h.guestErrors.join('\n'), why);
  }
  await sleep(30);
  t.is(h.msi.reduce((a, e) => a + e.total, 0), 0, 'no interrupt for any of them');
  t.is(await h.command(Command.RAISE_MSI_IRQ, { irqType: IrqType.MSI, irqNumber: 1 }), Status.IRQ_RAISED);
  await h.signalled(h.msi[0], 1, 'MSI 1 after the bad commands');
});

test('an interrupt number the host did not enable is a guest error and is not sent (MSI 0, MSI 5 of 4, MSI-X past the table, MSI-X off)', async (t) => {
  const h = await host(t);
  await h.enableMsi(4);
  const cases: [number, number, number, RegExp][] = [
    [Command.RAISE_MSI_IRQ, IrqType.MSI, 0, /MSI 0 raised, but the host enabled MSI 1\.\.4/],
    [Command.RAISE_MSI_IRQ, IrqType.MSI, 5, /MSI 5 raised, but the host enabled MSI 1\.\.4/],
    [Command.RAISE_MSIX_IRQ, IrqType.MSIX, 1, /MSI-X 1 raised, but MSI-X is not enabled/],
  ];
  for (const [command, irqType, irqNumber, why] of cases) {
    h.guestErrors.length = 0;
    t.is(await h.command(command, { irqType, irqNumber }), Status.IRQ_RAISED, 'STATUS says raised, as the test function does');
    t.regex(h.guestErrors.join('\n'), why);
  }
  const msi = (await walkCaps(h.c)).get(R.PCI_CAP_ID_MSI)!;
  await h.c.write16(cfg, msi + R.PCI_MSI_FLAGS, 0);
  await h.enableMsix(2048);
  h.guestErrors.length = 0;
  await h.command(Command.RAISE_MSIX_IRQ, { irqType: IrqType.MSIX, irqNumber: 2049 });
  t.regex(h.guestErrors.join('\n'), /MSI-X 2049 raised, but the table has vectors 1\.\.2048/);
  await sleep(30);
  t.is(h.msi.reduce((a, e) => a + e.total, 0) + h.msix.reduce((a, e) => a + e.total, 0), 0, 'nothing sent');
});

test('a register access the map does not allow is a guest error (all-ones, write dropped)', async (t) => {
  const h = await host(t);
  h.guestErrors.length = 0;
  t.deepEqual([...(await h.c.regionRead(0, Reg.SIZE + 2, 4))], [0xff, 0xff, 0xff, 0xff]);
  await h.c.regionWrite(0, Reg.COMMAND + 1, new Uint8Array([1, 0, 0, 0]));
  t.is(h.guestErrors.length, 2);
  t.regex(h.guestErrors[0], /breaks the access rules/);
  t.is(h.device.completed, 0, 'the misaligned COMMAND write started nothing');
});

test('a reset cancels the command in flight: no more DMA, no interrupt; the next command works', async (t) => {
  const h = await host(t);
  await h.enableMsi(32);
  // The write is held until after the reset (the function writes the whole buffer in one go).
  const HELD_MS = 1000;
  h.device.faults.add({ on: 'dma', direction: 'write', action: { delay: HELD_MS } });
  const dst = BY_MESSAGE;
  const size = 1 << 20;
  h.c.memory.write(dst, new Uint8Array(size));
  await h.write(Reg.DST_ADDR_LO, Number(dst));
  await h.write(Reg.SIZE, size);
  await h.write(Reg.IRQ_TYPE, IrqType.MSI);
  await h.write(Reg.IRQ_NUMBER, 1);
  await h.write(Reg.COMMAND, Command.WRITE);
  await eventually('the write to be held', () => h.device.faults.list().some((r) => r.applied === 1));
  await h.c.reset();
  // Nothing can be waited for here: watch past the moment the held write was due.
  await sleep(HELD_MS + 300);
  const written = h.mem(dst, size).reduce((n, b, i) => (b ? Math.max(n, i + 1) : n), 0);
  t.true(written < size / 2, `stopped early (last byte written at ${written})`);
  t.is(h.msi[0].total, 0, 'no completion interrupt');
  t.is(h.device.completed, 0);
  h.device.faults.clear();
  // After the reset the host sets the function up again, as the driver's probe does.
  await h.c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  await h.enableMsi(32);
  t.is(await h.command(Command.WRITE, { dst, size: 4096 }), Status.WRITE_SUCCESS | Status.IRQ_RAISED);
});

test('doorbell (7.x): ENABLE points DB_BAR/DB_OFFSET/DB_DATA at BAR1; writing DB_DATA there rings it; DISABLE gives the memory back', async (t) => {
  const h = await host(t);
  await h.enableMsi(32);
  await h.c.regionWrite(1, 0, new Uint8Array(0x100).fill(0x5a));
  t.is(await h.command(Command.ENABLE_DOORBELL), Status.DOORBELL_ENABLE_SUCCESS | Status.IRQ_RAISED);
  const bar = await h.read(Reg.DB_BAR);
  const offset = await h.read(Reg.DB_OFFSET);
  const data = await h.read(Reg.DB_DATA);
  t.is(bar, 1);
  await h.write(Reg.STATUS, 0);
  await h.c.write32(bar, offset, data ^ 1);
  t.is(await h.read(Reg.STATUS), 0, 'other data does not ring it');
  const before = h.msi[0].total;
  await h.c.write32(bar, offset, data);
  t.is(await h.read(Reg.STATUS), Status.DOORBELL_SUCCESS | Status.IRQ_RAISED);
  await h.signalled(h.msi[0], before + 1, 'the doorbell interrupt');
  t.is(await h.command(Command.DISABLE_DOORBELL), Status.DOORBELL_DISABLE_SUCCESS | Status.IRQ_RAISED);
  t.deepEqual([...(await h.c.regionRead(1, 0, 4))], [0x5a, 0x5a, 0x5a, 0x5a], 'BAR1 is its memory again, untouched');
  t.is(await h.command(Command.DISABLE_DOORBELL), Status.DOORBELL_DISABLE_FAIL | Status.IRQ_RAISED, 'nothing to disable');
});

test('BAR subranges (7.x): SETUP swaps a BAR\'s halves and signs them, CLEAR maps it straight again; the register BAR is refused', async (t) => {
  const h = await host(t);
  await h.enableMsi(32);
  const bar = 3;
  const size = 0x4000;
  t.is(await h.command(Command.BAR_SUBRANGE_SETUP, { size: bar }), Status.BAR_SUBRANGE_SETUP_SUCCESS | Status.IRQ_RAISED);
  const sig = (sub: number) => 0x50 + bar * 8 + sub;
  t.is(await h.c.read32(bar, 0), sig(0) * 0x01010101);
  t.is(await h.c.read32(bar, size / 2 - 4), sig(0) * 0x01010101);
  t.is(await h.c.read32(bar, size / 2), sig(1) * 0x01010101);
  await h.c.regionWrite(bar, 0, new Uint8Array(size / 2).fill(0xa0));
  await h.c.regionWrite(bar, size / 2, new Uint8Array(size / 2).fill(0xa1));
  t.is(await h.c.read32(bar, 16), 0xa0a0a0a0);
  t.is(await h.command(Command.BAR_SUBRANGE_CLEAR, { size: bar }), Status.BAR_SUBRANGE_CLEAR_SUCCESS | Status.IRQ_RAISED);
  t.is(await h.c.read32(bar, 16), 0xa1a1a1a1, 'straight again: the first half is the memory the second subrange wrote');
  h.guestErrors.length = 0;
  t.is(await h.command(Command.BAR_SUBRANGE_SETUP, { size: 0 }), Status.BAR_SUBRANGE_SETUP_FAIL | Status.IRQ_RAISED);
  t.regex(h.guestErrors.join('\n'), /BAR_SUBRANGE_SETUP of BAR0: not a memory BAR/);
  t.is(await h.command(Command.BAR_SUBRANGE_CLEAR, { size: bar }), Status.BAR_SUBRANGE_CLEAR_FAIL | Status.IRQ_RAISED, 'not set up');
});
