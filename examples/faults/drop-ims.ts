// A dropped IMS interrupt: the device completes K work items on queue 3 but
// one interrupt never leaves it. The guest counts K-1.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a dropped IMS interrupt: the guest counts K-1';

export default async function ({ device, driver, faults, log, sleep }: ScenarioContext): Promise<void> {
  const K = 5;
  faults.add({ on: 'irq', kind: 'ims', index: 3, action: 'drop', skip: 1, count: 1 });
  const before = await driver.queueCount(3);
  for (let i = 0; i < K; i++) {
    device.complete(3, 1);
    await sleep(100); // one at a time: the guest's APIC would merge back-to-back interrupts
  }
  await sleep(300);
  const got = (await driver.queueCount(3)) - before;
  log(`queue 3: ${K} completions, ${got} interrupts in the guest, ${device.counters.get('ims', 3, 'dropped')} dropped by the fault`);
  assert.equal(device.queue(3).completed >= K, true);
  assert.equal(got, K - 1);
}
