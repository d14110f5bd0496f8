// A dropped IMS interrupt: the device completes K work items on queue 3 but
// one interrupt never leaves it. The guest counts K-1.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a dropped IMS interrupt: the guest counts K-1';

export default async function ({ device, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  const K = 5;
  faults.add({ on: 'irq', kind: 'ims', index: 3, action: 'drop', skip: 1, count: 1 });
  const before = await driver.queueCount(3);
  let expected = before;
  for (let i = 0; i < K; i++) {
    // One at a time, each waited for: the guest's APIC would merge back-to-back interrupts.
    const [outcome] = device.complete(3, 1);
    if (outcome === 'dropped') continue; // the device says so at once: nothing to wait for
    expected++;
    await eventually(`completion ${i + 1} in the guest`, async () => (await driver.queueCount(3)) === expected);
  }
  const got = (await driver.queueCount(3)) - before;
  log(`queue 3: ${K} completions, ${got} interrupts in the guest, ${device.counters.get('ims', 3, 'dropped')} dropped by the fault`);
  assert.equal(got, K - 1);
}
