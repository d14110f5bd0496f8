// A pending bit that sticks: queue 6's interrupt, held while the driver masked
// it, is delivered on unmask -- and again at every later unmask, with no new work.
//
// Every step waits on what the device or the guest says, never on time: the
// mask is flushed before `mask` returns, so the completion after it is held
// (the device says 'pending' at once), and each unmask is followed by a wait
// for the guest to count the delivery.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a stuck pending bit: the interrupt fires again at every unmask';

export default async function ({ device, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  faults.add({ on: 'irq', kind: 'ims', index: 6, action: 'stuck-pending' });
  const sent = () => device.counters.get('ims', 6, 'delivered');
  const before = await driver.queueCount(6);
  const sentBefore = sent();
  await driver.ctl('mask ims 6');
  assert.deepEqual(device.complete(6, 1), ['pending'], 'the mask is in force: the device holds the interrupt');
  assert.equal(await driver.queueCount(6), before, 'nothing was sent, so nothing is counted');
  await driver.ctl('unmask ims 6');
  await eventually('delivery on unmask', async () => (await driver.queueCount(6)) === before + 1);
  assert.equal(device.ims.slot(6).pending, true, 'the pending bit stayed set');
  await driver.ctl('mask ims 6');
  await driver.ctl('unmask ims 6');
  await eventually('a second delivery with no new work', async () => (await driver.queueCount(6)) === before + 2);
  assert.equal(sent() - sentBefore, 2, 'sent twice for one completion');
  log(`queue 6: 1 completion, ${(await driver.queueCount(6)) - before} interrupts`);
}
