// The generic guest driver (irqlab_generic.ko) on devices irqlab.ko knows
// nothing of, in one 6.12 guest: the README's counter device (MSI-X), a
// device with only MSI and one with only INTx. Each gets the best mode it
// offers with every vector, each vector's interrupts are counted, registers
// are read and written from the guest, pciutils and modules of the lab kernel
// by name work, and the driver goes away cleanly.
import test from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { PciFunction, RegisterMap } from '../../src/index.ts';
import type { GenericDriver } from '../../src/guest/generic.ts';
import createCounterDevice from '../../examples/counter-device.ts';
import { eventually } from './helpers.ts';

const RAISE = 0x0c;
const STATUS = 0x10;

/** A function with an MSI capability and no MSI-X; RAISE fires the MSI vector written. */
function msiDevice(): PciFunction {
  const dev = new PciFunction({
    ids: { vendor: 0xf1ab, device: 0x00a1, classCode: 0xff0000 },
    bars: { 0: { type: 'mem32', size: 0x1000 } },
    capabilities: { pm: true, msi: { vectors: 4, is64: true, perVectorMask: true } },
  });
  dev.addRegisters(0, 0, new RegisterMap({
    size: 0x100, access: { min: 4, max: 4 },
    registers: [{ name: 'ID', offset: 0, access: 'RO', reset: 0x4d534921 }, { name: 'RAISE', offset: RAISE, access: 'WO', write: (v) => { dev.msi!.fire(Number(v)); } }],
  }));
  return dev;
}

/** A function with INTx only: RAISE asserts it and sets STATUS bit 0; writing 1 there clears both. */
function intxDevice(): PciFunction {
  const dev = new PciFunction({
    ids: { vendor: 0xf1ab, device: 0x00a2, classCode: 0xff0000 },
    bars: { 0: { type: 'mem32', size: 0x1000 } },
    capabilities: { pm: true },
  });
  const regs: RegisterMap = new RegisterMap({
    size: 0x100, access: { min: 4, max: 4 },
    registers: [
      { name: 'ID', offset: 0, access: 'RO', reset: 0x494e5458 },
      { name: 'RAISE', offset: RAISE, access: 'WO', write: () => { regs.set('STATUS', 1); dev.intx.assert(); } },
      { name: 'STATUS', offset: STATUS, access: 'W1C', write: (v) => { if (!(Number(v) & 1)) dev.intx.deassert(); } },
    ],
  });
  dev.addRegisters(0, 0, regs);
  return dev;
}

let bed: Testbed<PciFunction>;
let counter: GenericDriver;
let msi: GenericDriver;
let intx: GenericDriver;

test.before(async () => {
  bed = await Testbed.start<PciFunction>({
    devices: [createCounterDevice(), msiDevice(), intxDevice()], kernel: '6.12', cpus: 2,
    bind: true, pciutils: true, kernelModules: ['uio_pci_generic', 'vfio-pci'], bootTimeoutMs: 180_000,
  });
  [counter, msi, intx] = bed.generic as GenericDriver[];
});
test.after.always(async () => {
  await bed?.stop();
});

test.serial('each device gets the best mode it offers, with every vector it offers', async (t) => {
  t.like(await counter.info(), { vendor: 0xf1ab, device: 0x0002, mode: 'msix', vectors: 4, offered: 4 });
  // x86 grants several MSI vectors only with interrupt remapping (no vIOMMU here).
  t.like(await msi.info(), { device: 0x00a1, mode: 'msi', vectors: 1, offered: 4 });
  t.like(await intx.info(), { device: 0x00a2, mode: 'intx', vectors: 1, offered: 1 });
  t.like((await counter.info()).bars[0], { bar: 0, kind: 'mem', size: 0x1000, mapped: true });
});

test.serial('every MSI-X vector of the README\'s counter device is counted, and MSI', async (t) => {
  const dev = bed.devices[0];
  const before = await counter.counts();
  const N = 3;
  for (let r = 1; r <= N; r++) {
    for (let v = 0; v < 4; v++) dev.msix!.fire(v);
    await eventually(`round ${r} of MSI-X`, async () => (await counter.counts()).every((n, v) => n - before[v] >= r), 20_000);
  }
  t.deepEqual((await counter.counts()).map((n, v) => n - before[v]), [N, N, N, N]);
  const m0 = (await msi.counts())[0];
  await msi.write(0, RAISE, 0); // from the guest: the device fires its MSI vector 0
  await eventually('the MSI interrupt', async () => (await msi.counts())[0] === m0 + 1, 20_000);
  t.pass();
});

test.serial('INTx: counted once and masked at the function until its cause is cleared and it is unmasked', async (t) => {
  await intx.write(0, RAISE, 1);
  await eventually('the INTx interrupt', async () => (await intx.counts())[0] === 1, 20_000);
  await t.throwsAsync(intx.ctl('unmask'), { message: /ctl "unmask" failed/ }, 'refused while the function still asserts INTx');
  t.is((await intx.counts())[0], 1, 'masked: no storm');
  await intx.write(0, STATUS, 1); // W1C: the cause is gone
  await intx.ctl('unmask');
  await intx.write(0, RAISE, 1);
  await eventually('the second INTx interrupt', async () => (await intx.counts())[0] === 2, 20_000);
  await intx.write(0, STATUS, 1);
  await intx.ctl('unmask');
});

test.serial('registers from the guest: irqlab-poke reads and writes, the driver refuses what leaves the BAR', async (t) => {
  const bdf = bed.bdfs[0];
  t.is(await counter.read(0, 0), 0x434e5452n, 'ID "CNTR"');
  const r = await bed.vm.run(`irqlab-poke -d ${bdf} 0 0x4 0xcafe && irqlab-poke -d ${bdf} 0 0x4`);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'bar 0 offset 0x4 width 4 value 0x0000cafe written\nbar 0 offset 0x4 width 4 value 0x0000cafe read\n');
  const outside = await bed.vm.run(`irqlab-poke -d ${bdf} 0 0x1000`);
  t.is(outside.status, 1);
  t.regex(outside.stderr, /the driver refused BAR 0 offset 0x1000 width 4/);
  t.regex(outside.stderr, /bar0 mem 0x[0-9a-f]+ 4096/, 'and shows the BARs');
  const several = await bed.vm.run('irqlab-poke 0 0');
  t.regex(several.stderr, /drives several functions .*pick one with -d BDF/);
  await t.throwsAsync(counter.poke(0, 2, 4), { message: /poke "0 0x2 4" failed/ }, 'misaligned');
  await t.throwsAsync(counter.poke(1, 0, 4), { message: /failed/ }, 'no BAR1');
});

test.serial('pciutils in the guest: lspci -vv shows what the driver enabled, setpci reads config space', async (t) => {
  const bdf = bed.bdfs[0];
  const l = await bed.vm.run(`lspci -vv -k -s ${bdf}`);
  t.is(l.status, 0, l.stderr);
  t.is(l.stderr, '', 'no complaint (libkmod has its indexes)');
  t.regex(l.stdout, /Device f1ab:0002/);
  t.regex(l.stdout, /MSI-X: Enable\+ Count=4/);
  t.regex(l.stdout, /Kernel driver in use: irqlab_generic/);
  t.regex((await bed.vm.run(`lspci -vv -s ${bed.bdfs[1]}`)).stdout, /MSI: Enable\+ Count=1\/4 Maskable\+ 64bit\+/);
  t.is((await bed.vm.run(`setpci -s ${bdf} VENDOR_ID DEVICE_ID`)).stdout, 'f1ab\n0002\n');
});

test.serial('modules of the lab kernel by name, with their dependencies; uio_pci_generic takes a device by new_id', async (t) => {
  const lsmod = (await bed.vm.run('lsmod')).stdout;
  for (const m of ['uio_pci_generic', 'uio', 'vfio_pci', 'vfio_pci_core', 'vfio', 'irqbypass']) t.regex(lsmod, new RegExp(`^${m} `, 'm'), m);
  const bdf = bed.bdfs[2];
  const r = await bed.vm.run(`echo ${bdf} > /sys/bus/pci/drivers/irqlab_generic/unbind && echo 'f1ab 00a2' > /sys/bus/pci/drivers/uio_pci_generic/new_id && ls /sys/bus/pci/devices/${bdf}/uio`);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^uio\d+$/m);
  t.is((await bed.vm.run(`[ -d /sys/kernel/debug/irqlab_generic/${bdf} ]`)).status, 1, 'its debugfs went with it');
});

test.serial('the driver unloads cleanly: interrupts freed, nothing in the kernel log', async (t) => {
  const r = await bed.vm.run('rmmod irqlab_generic && ! grep -q irqlab_generic /proc/interrupts && [ ! -e /sys/kernel/debug/irqlab_generic ]');
  t.is(r.status, 0, r.stderr);
  await bed.vm.kernelLog.check();
  t.pass();
});
