// An uncorrectable error as AER reports it: the guest reads the error in the
// device's AER capability; then the ERR interrupt tells QEMU, which stops the
// VM (QEMU's policy for an unrecoverable device error).
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'an AER error: status in the AER capability, then ERR (QEMU stops the VM)';

export default async function ({ bed, device, vm, driver, log, eventually }: ScenarioContext): Promise<void> {
  const aer = device.caps.aer!;
  device.aerError({ bit: 20, signal: false }); // Unsupported Request
  const cfg = await vm.readFile(`/sys/bus/pci/devices/${driver.bdf}/config`, { offset: aer + 4, length: 4 });
  const status = cfg.readUInt32LE(0);
  assert.equal(status, 1 << 20, `the guest reads AER uncorrectable status 0x${status.toString(16)}`);
  log(`guest: AER uncorrectable status 0x${status.toString(16)}`);
  device.err.fire();
  await eventually('QEMU to take the ERR interrupt', () => /Unrecoverable error detected/.test(bed.vm.qemuOutput), 5000);
  log(`QEMU: ${bed.vm.qemuOutput.trim().split('\n').find((l) => /Unrecoverable/.test(l))}`);
}
