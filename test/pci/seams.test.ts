// The seams a device offers to whoever decorates it (fault injection today;
// ordering, accounting, late posted writes next): lists of hooks on every
// interrupt, every region access, every device DMA and every vfio-user
// command, and irq kinds a device adds by name. Exercised over a real socket
// with hooks of the test's own, and with the fault rules that use the same seams.
import test from 'ava';
import { Region, IrqIndex, Command, Errno, encodeRegionAccess, encodeDeviceInfo } from '../../src/protocol/index.ts';
import { PciFunction } from '../../src/pci/function.ts';
import { RegisterMap } from '../../src/device/register-map.ts';
import { ImsQueueDevice, Reg, IMS_TABLE_OFFSET } from '../../src/devices/ims-queue.ts';
import type { IrqHook } from '../../src/irq/hooks.ts';
import type { IrqKind, IrqOutcome } from '../../src/irq/events.ts';
import type { Interceptor } from '../../src/server/session.ts';
import * as R from '../../src/pci/regs.ts';
import { startServer, errnoOf } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

const ids = { vendor: 0xf1ab, device: 0x00fd, classCode: 0xff0000 };

test('a device adds an irq kind by name: spurious() reaches it, a kind it has already is refused, one it lacks says so', (t) => {
  const dev = new PciFunction({ ids, bars: { 0: { type: 'mem32', size: 0x1000 } } });
  const raised: number[] = [];
  dev.addIrqKind('ims', (slot) => {
    raised.push(slot);
    return 'delivered';
  });
  t.is(dev.spurious('ims', 5), 'delivered');
  t.deepEqual(raised, [5]);
  t.throws(() => dev.addIrqKind('ims', () => 'delivered'), { message: /already raises ims interrupts/ });
  t.throws(() => dev.addIrqKind('msix', () => 'delivered'), { message: /already raises msix interrupts/ });
  t.throws(() => dev.spurious('msix', 0), { instanceOf: RangeError, message: 'MSI-X vector 0 does not exist (the device has no msix interrupts)' }, 'a built-in kind without its capability');
  const bare = new PciFunction({ ids });
  t.throws(() => bare.spurious('ims', 0), { message: /this device has no ims interrupts/ });
});

test('the reference device raises IMS by name through the same registry', (t) => {
  const dev = new ImsQueueDevice();
  t.is(dev.spurious('ims', 3), 'blocked', 'bus mastering is off at reset');
  t.is(dev.counters.get('ims', 3, 'blocked'), 1);
});

test('an irq hook added to irqHooks sees every interrupt of every model (MSI-X, IMS, ERR) after the gate, and decides when it leaves', async (t) => {
  const h = startServer();
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, 0x6);
  await c.dmaMap(0x100000n, 0x10000);
  const [ev] = await c.bindEventfds(IrqIndex.MSIX, 0, 1);
  await c.write16(Region.CONFIG, h.device.caps.msix! + 2, R.PCI_MSIX_FLAGS_ENABLE);
  await c.write32(2, 12, 0);
  await c.write32(0, IMS_TABLE_OFFSET, 0xfee00000);
  await c.write32(0, IMS_TABLE_OFFSET + 8, 0x41);
  await c.write32(0, IMS_TABLE_OFFSET + 12, 0);
  const seen: string[] = [];
  const held: (() => IrqOutcome)[] = [];
  const hold: IrqHook = {
    raise(kind: IrqKind, index: number, fire) {
      seen.push(`${kind} ${index}`);
      held.push(() => fire(false));
      return 'queued';
    },
  };
  h.device.irqHooks.push(hold);
  h.device.fireMsix(0);
  h.device.fireIms(0);
  h.device.err.fire();
  t.deepEqual(seen, ['msix 0', 'ims 0', 'err 0']);
  t.is(ev.total + c.memory.msis.length, 0, 'nothing left while the hook holds it');
  for (const go of held.splice(0)) go();
  await eventually('the MSI-X signal and the IMS message', () => ev.total === 1 && c.memory.msis.length === 1);
  // The gate (fault rules) sits outside: a dropped interrupt never reaches the hook.
  h.device.faults.add({ on: 'irq', kind: 'msix', action: 'drop', count: 1 });
  h.device.fireMsix(0);
  t.is(seen.length, 3);
  h.device.irqHooks.pop();
});

test('a region access hook sees every client access before the model and may answer or take it', async (t) => {
  const dev = new PciFunction({ ids, bars: { 0: { type: 'mem32', size: 16 } } });
  const regs = new RegisterMap({ size: 16, registers: [{ name: 'A', offset: 0 }, { name: 'B', offset: 4 }] });
  dev.addRegisters(0, 0, regs);
  const log: string[] = [];
  dev.accessHooks.push({
    read: (region, offset, count) => {
      log.push(`read ${region}+${offset} x${count}`);
      return region === 0 && offset === 4 ? new Uint8Array([0xef, 0xbe, 0xad, 0xde]) : undefined;
    },
    write: (region, offset, data) => {
      log.push(`write ${region}+${offset} x${data.length}`);
      return region === 0 && offset === 0; // writes to A are taken (a late posted write would be held here)
    },
  });
  const h = startServer(dev);
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, 0x2);
  await c.write32(0, 0, 7);
  await c.write32(0, 4, 9);
  t.is(await c.read32(0, 0), 0, 'the write to A never reached the model');
  t.is(await c.read32(0, 4), 0xdeadbeef, 'the hook answered for B');
  t.is(regs.value('B'), 9, 'the model has what was written');
  t.deepEqual(log, ['write 7+4 x2', 'write 0+0 x4', 'write 0+4 x4', 'read 0+0 x4', 'read 0+4 x4']);
});

test('fault rules use the same seams, and only while a rule is in force', (t) => {
  const dev = new ImsQueueDevice();
  const sizes = () => [dev.interceptors.length, dev.accessHooks.length, dev.deviceDma.hooks.length];
  t.deepEqual(sizes(), [0, 0, 0], 'no rule: every access stays in the model');
  const id = dev.faults.add({ on: 'read', region: 0, offset: Reg.SCRATCH, action: 'all-ones' });
  t.deepEqual(sizes(), [1, 1, 1]);
  dev.faults.add({ on: 'dma', action: 'drop' });
  t.deepEqual(sizes(), [1, 1, 1], 'one hook per seam, however many rules');
  dev.faults.remove(id);
  t.deepEqual(sizes(), [1, 1, 1]);
  dev.faults.clear();
  t.deepEqual(sizes(), [0, 0, 0]);
  t.is(dev.irqHooks[0], dev.gate, 'the gate is always the first irq hook');
  dev.faults.add({ on: 'write', region: 0, offset: Reg.SCRATCH, action: 'late' });
  t.deepEqual(sizes(), [1, 2, 1], 'a late write rule: the posted-write buffer too');
  t.is(dev.accessHooks[0], dev.postedWrites, 'first: a read lets held writes land before anything answers it');
  dev.faults.clear();
  const stop = dev.holdPostedWrites({ region: 0, offset: Reg.SCRATCH, length: 4 });
  t.deepEqual(sizes(), [0, 1, 0], 'a window the device holds: only the buffer');
  stop();
  t.deepEqual(sizes(), [0, 0, 0]);
});

test('a device DMA hook may hold or drop the device\'s own DMA', async (t) => {
  const h = startServer();
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.dmaMap(0x200000n, 0x1000);
  const seen: string[] = [];
  h.device.deviceDma.hooks.push({
    dma(direction, address, length) {
      seen.push(`${direction} 0x${address.toString(16)} x${length}`);
      return address === 0x200100n ? 'drop' : address === 0x200200n ? { delay: 50 } : undefined;
    },
  });
  await h.device.dmaWrite(0x200000n, new Uint8Array([1, 2, 3, 4]));
  await h.device.dmaWrite(0x200100n, new Uint8Array([5, 6, 7, 8]));
  const t0 = Date.now();
  await h.device.dmaWrite(0x200200n, new Uint8Array([9]));
  t.true(Date.now() - t0 >= 45, 'held');
  t.deepEqual([...c.memory.read(0x200000n, 4)], [1, 2, 3, 4]);
  t.deepEqual([...c.memory.read(0x200100n, 4)], [0, 0, 0, 0], 'the dropped write never happened');
  t.deepEqual([...c.memory.read(0x200200n, 1)], [9]);
  await t.throwsAsync(h.device.dmaRead(0x200100n, 4), { message: /dropped/ });
  t.deepEqual(seen, ['write 0x200000 x4', 'write 0x200100 x4', 'write 0x200200 x1', 'read 0x200100 x4']);
});

test('the server\'s interceptors run inside the device\'s own: a command fault answers before them; they see what reaches the table', async (t) => {
  const seen: string[] = [];
  const count: Interceptor = (_ctx, msg, next) => {
    seen.push(`${msg.header.command}`);
    return next();
  };
  const refuse: Interceptor = (_ctx, msg, next) => {
    if (msg.header.command === Command.DEVICE_GET_INFO) throw new Error('not here');
    return next();
  };
  const h = startServer(undefined, { interceptors: [count], interceptor: refuse });
  t.teardown(() => h.close());
  const c = await h.connect();
  t.deepEqual(seen, [`${Command.VERSION}`], 'the interceptors saw VERSION');
  t.is(await errnoOf(c.request(Command.DEVICE_GET_INFO, encodeDeviceInfo({ argsz: 16, flags: 0, numRegions: 0, numIrqs: 0 }))), Errno.EIO, 'the outer interceptor (interceptor) answered first');
  t.deepEqual(seen, [`${Command.VERSION}`], 'so the inner one (interceptors) never saw it');
  h.device.faults.add({ on: 'command', command: 'REGION_READ', action: { error: 'EBUSY' }, count: 1 });
  t.is(await errnoOf(c.request(Command.REGION_READ, encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 }))), Errno.EBUSY);
  t.deepEqual(seen, [`${Command.VERSION}`], 'the device\'s fault rule answered before the server\'s interceptors');
  t.is(await c.configRead32(0), 0x0001f1ab);
  t.deepEqual(seen, [`${Command.VERSION}`, `${Command.REGION_READ}`]);
});
