// A misrouted interrupt: queue 0's IMS slot is read, but the device writes
// queue 7's message instead. The guest takes it as an interrupt of queue 7.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a misrouted IMS message lands on another queue\'s interrupt';

export default async function ({ device, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  const rows = await driver.queues();
  const wrong = rows[7];
  faults.add({ on: 'irq', kind: 'ims', index: 0, action: { misroute: { address: wrong.address, data: wrong.data } }, count: 1 });
  device.complete(0, 1);
  await eventually('the interrupt on queue 7', async () => (await driver.queueCount(7)) === wrong.count + 1);
  assert.equal(await driver.queueCount(0), rows[0].count, 'queue 0 saw nothing');
  log(`queue 0 completed, queue 7 interrupted (message 0x${wrong.address.toString(16)}/0x${wrong.data.toString(16)})`);
}
