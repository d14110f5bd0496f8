// A duplicated IMS interrupt: one completion, the message sent twice (50 ms
// apart, so the guest's APIC does not merge the copy into the original). The
// guest counts K+1.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a duplicated IMS interrupt: the guest counts K+1';

export default async function ({ device, driver, faults, log, sleep }: ScenarioContext): Promise<void> {
  const K = 4;
  faults.add({ on: 'irq', kind: 'ims', index: 1, action: { duplicate: 1, gapMs: 50 }, count: 1 });
  const before = await driver.queueCount(1);
  for (let i = 0; i < K; i++) {
    device.complete(1, 1);
    await sleep(150);
  }
  await sleep(200);
  const got = (await driver.queueCount(1)) - before;
  log(`queue 1: ${K} completions, ${got} interrupts in the guest`);
  assert.equal(got, K + 1);
}
