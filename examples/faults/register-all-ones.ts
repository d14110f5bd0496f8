// Registers that read all-ones (a device that stopped answering) or a wrong
// fixed value, and writes that are ignored: the guest driver reads them.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'registers read 0xffffffff or a fixed value; writes are ignored';

export default async function ({ driver, faults, log }: ScenarioContext): Promise<void> {
  const good = await driver.regs();
  assert.equal(good.ID, 0x4c515249);
  const rule = faults.add({ on: 'read', region: 0, offset: 0x000, length: 0x40, action: 'all-ones' });
  const bad = await driver.regs();
  assert.equal(bad.ID, 0xffffffff);
  assert.equal(bad.NUM_QUEUES, 0xffffffff);
  log(`with the fault the guest reads ID 0x${bad.ID.toString(16)}`);
  faults.remove(rule);
  faults.add({ on: 'read', region: 0, offset: 0x008, action: { value: 3 } });
  assert.equal((await driver.regs()).NUM_QUEUES, 3);
  faults.add({ on: 'write', region: 0, offset: 0x024, action: 'ignore' });
  const run = await driver.loop('storm', 100);
  assert.equal(run.value, good.DB_COUNT, 'doorbell writes were ignored');
}
