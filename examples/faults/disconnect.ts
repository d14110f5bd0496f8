// The device server drops the connection: QEMU reads all-ones from then on,
// and the server is ready for the next client.
import assert from 'node:assert/strict';
import { VfioUserClient } from '../../src/index.ts';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'the connection drops: the guest reads all-ones; the server takes the next client';

export default async function ({ bed, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  faults.add({ on: 'command', command: 'REGION_READ', action: 'close', count: 1 });
  const regs = await driver.regs();
  assert.equal(regs.ID, 0xffffffff, 'the read that hit the closed connection');
  assert.equal((await driver.regs()).VERSION, 0xffffffff, 'and every read after it');
  await eventually('the server to drop the session', () => bed.server.session === null);
  const next = await VfioUserClient.connect(bed.server.socketPath);
  assert.equal((await next.deviceInfo()).numRegions, 9, 'the next client is served');
  next.close();
  log(`guest reads all-ones; QEMU said: ${bed.vm.qemuOutput.trim().split('\n').pop() ?? '(nothing)'}`);
}
