// A pending bit that sticks: queue 6's interrupt, held while the driver masked
// it, is delivered on unmask -- and again at every later unmask, with no new work.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a stuck pending bit: the interrupt fires again at every unmask';

export default async function ({ device, driver, faults, log, sleep, eventually }: ScenarioContext): Promise<void> {
  faults.add({ on: 'irq', kind: 'ims', index: 6, action: 'stuck-pending' });
  const before = await driver.queueCount(6);
  await driver.ctl('mask ims 6');
  device.complete(6, 1);
  await sleep(200);
  assert.equal(await driver.queueCount(6), before);
  await driver.ctl('unmask ims 6');
  await eventually('delivery on unmask', async () => (await driver.queueCount(6)) === before + 1);
  assert.equal(device.ims.slot(6).pending, true, 'the pending bit stayed set');
  await driver.ctl('mask ims 6');
  await driver.ctl('unmask ims 6');
  await eventually('a second delivery with no new work', async () => (await driver.queueCount(6)) === before + 2);
  log(`queue 6: 1 completion, ${(await driver.queueCount(6)) - before} interrupts`);
}
