// A duplicated IMS interrupt: one completion, the message sent twice (200 ms
// apart, so the guest's APIC does not merge the copy into the original). The
// guest counts K+1.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a duplicated IMS interrupt: the guest counts K+1';

export default async function ({ device, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  const K = 4;
  faults.add({ on: 'irq', kind: 'ims', index: 1, action: { duplicate: 1, gapMs: 200 }, count: 1 });
  const sent = () => device.counters.get('ims', 1, 'delivered');
  const before = await driver.queueCount(1);
  const sentBefore = sent();
  let expected = before;
  for (let i = 0; i < K; i++) {
    device.complete(1, 1);
    // The first completion leaves twice: wait until the device sent both, and the guest counted both.
    expected += i === 0 ? 2 : 1;
    await eventually(`completion ${i + 1}'s interrupts sent`, () => sent() - sentBefore === expected - before);
    await eventually(`completion ${i + 1} in the guest`, async () => (await driver.queueCount(1)) === expected);
  }
  const got = (await driver.queueCount(1)) - before;
  log(`queue 1: ${K} completions, ${got} interrupts in the guest`);
  assert.equal(got, K + 1);
}
