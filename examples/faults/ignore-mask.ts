// A device that ignores the mask: the driver masks queue 2's IMS slot in the
// device (the kernel irq stays enabled) and the interrupt arrives anyway.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'an IMS slot masked in the device still delivers: the mask is ignored';

export default async function ({ device, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  await driver.ctl('hwmask ims 2');
  assert.equal(device.ims.slot(2).masked, true);
  const before = await driver.queueCount(2);
  // Without the fault the masked slot holds the interrupt (the device says so at once)...
  assert.deepEqual(device.complete(2, 1), ['pending'], 'a working mask holds it');
  assert.equal(await driver.queueCount(2), before, 'nothing was sent, so nothing is counted');
  // ...with it, the next one comes through while the slot is masked.
  faults.add({ on: 'irq', kind: 'ims', index: 2, action: 'ignore-mask', count: 1 });
  assert.deepEqual(device.complete(2, 1), ['delivered']);
  await eventually('delivery through the mask', async () => (await driver.queueCount(2)) === before + 1);
  log(`queue 2: delivered while its slot was masked (device pending bit: ${device.ims.slot(2).pending})`);
  await driver.ctl('hwunmask ims 2'); // releases the one held earlier
  await eventually('the held interrupt on unmask', async () => (await driver.queueCount(2)) === before + 2);
}
