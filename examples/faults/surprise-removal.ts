// Surprise removal: the device stops answering (all-ones) and asks to be
// released (REQ). For vfio-pci QEMU turns REQ into a hot-unplug request on the
// PCIe root port; QEMU 11.1's vfio-user-pci does not wire REQ, so the lab
// makes the same request itself (device_del). The guest removes the device
// and the driver lets go of its IMS domain.
//
// The device here has no MSI-X: QEMU 11.1.3 aborts when it unplugs a
// vfio-user device with MSI-X (an assertion in memory_region_del_subregion
// from its MSI-X PBA teardown), whatever the device does.
import assert from 'node:assert/strict';
import { ImsQueueDevice } from '../../src/index.ts';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'surprise removal: the guest is asked to remove the device, and does';
export const options = { rootPort: true };
export const device = () => new ImsQueueDevice({ msixVectors: 0 });

export default async function ({ bed, device, vm, driver, log, eventually }: ScenarioContext): Promise<void> {
  const dev = `/sys/bus/pci/devices/${driver.bdf}`;
  assert.equal((await vm.run(`test -e ${dev}`)).status, 0);
  device.surpriseRemove();
  assert.equal((await driver.regs()).ID, 0xffffffff, 'the device reads all-ones');
  await bed.requestRemoval();
  // pciehp waits 5 s after the attention button before it powers the slot off.
  await eventually('the guest to remove the device', async () => (await vm.run(`test -e ${dev}`)).status !== 0, 20_000);
  await eventually('QEMU to release the device', () => bed.server.session === null, 10_000);
  const msgs = (await vm.dmesg()).split('\n').filter((l) => /pciehp|irqlab/.test(l)).slice(-4);
  log(`guest: ${msgs.join(' | ')}`);
}
