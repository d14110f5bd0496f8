// A spurious interrupt: queue 5's IMS message sent with no work behind it.
// The guest counts an interrupt the device's completion counter cannot explain.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a spurious IMS interrupt: counted with no completion';

export default async function ({ device, driver, log, eventually }: ScenarioContext): Promise<void> {
  const before = await driver.queueCount(5);
  const completed = device.queue(5).completed;
  device.spurious('ims', 5);
  await eventually('the spurious interrupt in the guest', async () => (await driver.queueCount(5)) === before + 1);
  assert.equal(device.queue(5).completed, completed, 'no work was completed');
  log(`queue 5: +1 interrupt in the guest, completions unchanged at ${completed}`);
}
