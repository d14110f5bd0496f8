// A late interrupt: queue 4's IMS message leaves 2 s after the completion;
// the ones after it wait behind it, so they arrive late and in order.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a delayed IMS interrupt arrives late, and what follows stays behind it';

export default async function ({ device, driver, faults, log, sleep, eventually }: ScenarioContext): Promise<void> {
  faults.add({ on: 'irq', kind: 'ims', index: 4, action: { delay: 2000 }, count: 1 });
  const before = await driver.queueCount(4);
  const t0 = Date.now();
  device.complete(4, 1);
  await sleep(250);
  assert.equal(await driver.queueCount(4), before, 'not there after 250 ms');
  device.complete(4, 1); // not delayed itself, but must not overtake the first
  await sleep(100);
  assert.equal(await driver.queueCount(4), before, 'the second did not overtake the first');
  await eventually('the delayed interrupt', async () => (await driver.queueCount(4)) >= before + 1, 5000);
  const late = Date.now() - t0;
  assert.ok(late >= 1950, `arrived after ${late} ms`);
  log(`queue 4: first interrupt after ${late} ms; the second followed it`);
}
