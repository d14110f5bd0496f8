// Telling devices apart in a guest: ids and Device Serial Numbers as the
// device models present them and as the guest's config space shows them.
import test from 'ava';
import { ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import { PciFunction } from '../../src/pci/function.ts';
import { referenceDevices } from '../../src/lab/testbed.ts';
import { checkDistinguishable, identityOf, parseFunctionList, readSerial, IdentifyError } from '../../src/lab/identify.ts';
import createCounterDevice from '../../examples/counter-device.ts';

test('a device model\'s identity: ids and the serial number its DSN capability holds', (t) => {
  t.deepEqual(identityOf(new ImsQueueDevice({ serial: 0x1122334455667788n })), { vendor: 0xf1ab, device: 0x0001, serial: 0x1122334455667788n });
  t.deepEqual(identityOf(createCounterDevice()), { vendor: 0xf1ab, device: 0x0002, serial: 0x00c0ffee00000002n });
  const plain = new PciFunction({ ids: { vendor: 0x1234, device: 0x5678, classCode: 0xff0000 } });
  t.deepEqual(identityOf(plain), { vendor: 0x1234, device: 0x5678 }, 'no DSN capability: no serial');
});

test('readSerial reads the DSN from a config space image (low dword first), as the guest\'s sysfs config file gives it', (t) => {
  const dev = new ImsQueueDevice({ serial: 0xaabbccdd00112233n });
  t.is(readSerial(dev.config.read(0, dev.config.size)), 0xaabbccdd00112233n);
  t.is(readSerial(new Uint8Array(256)), undefined, 'no extended config space');
});

test('devices the guest cannot tell apart are refused before boot, with the fix in the message', (t) => {
  const twins = [identityOf(new ImsQueueDevice()), identityOf(new ImsQueueDevice())];
  const err = t.throws(() => checkDistinguishable(twins), { instanceOf: IdentifyError });
  t.regex(err!.message, /devices 0 and 1 are both f1ab:0001 serial 0x1ab0000000000001/);
  t.regex(err!.message, /referenceDevices\(n\)/);
  t.notThrows(() => checkDistinguishable(referenceDevices(3).map(identityOf)));
  t.notThrows(() => checkDistinguishable([...referenceDevices(2), createCounterDevice()].map(identityOf)), 'different ids need no serial');
  const noSerial = { vendor: 0x1234, device: 0x5678 };
  t.throws(() => checkDistinguishable([noSerial, { ...noSerial, serial: 1n }]), { message: /no serial number/ });
  t.throws(() => referenceDevices(0), { instanceOf: RangeError });
});

test('the guest\'s PCI functions: "BDF VENDOR DEVICE" lines', (t) => {
  t.deepEqual(parseFunctionList('0000:00:02.0 0xf1ab 0x0001\n0000:00:1f.0 0x8086 0x2918\n'), [
    { bdf: '0000:00:02.0', vendor: 0xf1ab, device: 0x0001 }, { bdf: '0000:00:1f.0', vendor: 0x8086, device: 0x2918 },
  ]);
  t.throws(() => parseFunctionList('0000:00:02.0 f1ab\n'), { instanceOf: IdentifyError });
});
