// Interrupt indexes that do not exist are errors that name the valid range,
// never wrapped onto another vector: from the API (a RangeError), from a
// fault rule (refused when added), from the control socket (an error reply).
import test from 'ava';
import { PciFunction } from '../../src/pci/function.ts';
import { ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import { RuleError } from '../../src/faults/rules.ts';
import { startControlled } from '../helpers/control.ts';

const ids = { vendor: 0xf1ab, device: 0x00fe, classCode: 0xff0000 };

function counterLike(): PciFunction {
  return new PciFunction({
    ids, bars: { 0: { type: 'mem32', size: 0x1000 } },
    capabilities: { msix: { vectors: 4, bar: 0, tableOffset: 0x800, pbaOffset: 0xc00 }, msi: { vectors: 4, perVectorMask: true } },
  });
}

test('MSI-X, MSI and IMS fire() refuse an index they lack, naming the range; nothing is raised', (t) => {
  const dev = counterLike();
  t.throws(() => dev.msix!.fire(5), { instanceOf: RangeError, message: 'MSI-X vector 5 does not exist (valid: 0..3)' });
  t.throws(() => dev.msix!.fire(-1), { instanceOf: RangeError, message: /MSI-X vector -1 does not exist/ });
  t.throws(() => dev.msix!.fire(1.5), { instanceOf: RangeError, message: /MSI-X vector 1.5 does not exist/ });
  t.throws(() => dev.msi!.fire(4), { instanceOf: RangeError, message: 'MSI vector 4 does not exist (valid: 0..3)' });
  const ims = new ImsQueueDevice();
  t.throws(() => ims.fireIms(64), { instanceOf: RangeError, message: 'IMS slot 64 does not exist (valid: 0..63)' });
  t.throws(() => ims.fireMsix(8), { instanceOf: RangeError, message: 'MSI-X vector 8 does not exist (valid: 0..7)' });
  t.deepEqual(dev.counters.snapshot(), {}, 'no interrupt recorded');
  t.deepEqual(ims.counters.snapshot(), {});
});

test('spurious() checks every kind: INTx has pin 0 only, ERR and REQ index 0, MSI-X its vectors', (t) => {
  const dev = counterLike();
  t.is(dev.spurious('msix', 3), 'disabled', 'the last vector exists (MSI-X is not enabled yet)');
  t.throws(() => dev.spurious('msix', 4), { instanceOf: RangeError, message: 'MSI-X vector 4 does not exist (valid: 0..3)' });
  t.throws(() => dev.spurious('intx', 1), { instanceOf: RangeError, message: 'INTx pin 1 does not exist (valid: 0..0)' });
  t.throws(() => dev.spurious('err', 2), { instanceOf: RangeError, message: 'err index 2 does not exist (valid: 0..0)' });
  t.throws(() => dev.spurious('msi', 7), { instanceOf: RangeError, message: 'MSI vector 7 does not exist (valid: 0..3)' });
  const noIntx = new PciFunction({ ids, intx: false });
  t.throws(() => noIntx.spurious('intx', 0), { message: 'INTx pin 0 does not exist (the device has no intx interrupts)' });
});

test("a misroute rule's vector, and an irq rule's index, must exist on the device: refused when added, never taken modulo", (t) => {
  const dev = new ImsQueueDevice();
  t.throws(() => dev.faults.add({ on: 'irq', kind: 'msix', index: 1, action: { misroute: { vector: 9 } } }), { instanceOf: RuleError, message: 'misroute to MSI-X vector 9 does not exist (valid: 0..7)' });
  t.throws(() => dev.faults.add({ on: 'irq', action: { misroute: { vector: 8 } } }), { message: /misroute to MSI-X vector 8 does not exist/ });
  t.throws(() => dev.faults.add({ on: 'irq', kind: 'ims', index: 64, action: 'drop' }), { message: 'fault rule on ims 64: IMS slot 64 does not exist (valid: 0..63)' });
  t.is(dev.faults.list().length, 0, 'nothing was added');
  t.notThrows(() => dev.faults.add({ on: 'irq', kind: 'msix', index: 1, action: { misroute: { vector: 7 } } }));
});

test('the control socket refuses fire with an index the device lacks, naming the range; the device keeps serving', async (t) => {
  const { h, ctl } = await startControlled(t);
  await t.throwsAsync(ctl.fire('msix', 99), { message: 'MSI-X vector 99 does not exist (valid: 0..7)' });
  await t.throwsAsync(ctl.fire('ims', 64), { message: 'IMS slot 64 does not exist (valid: 0..63)' });
  await t.throwsAsync(ctl.fire('msix', 'x3'), { message: 'index must be a non-negative integer, got "x3"' });
  t.deepEqual(h.device.counters.snapshot(), {}, 'nothing fired, nothing wrapped');
  t.is(await ctl.fire('msix', 7), 'disabled');
});
