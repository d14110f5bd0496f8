// A reply later than the client's timeout: QEMU (here with x-msg-timeout
// 1000 ms) gives up on the device for good; the server survives and serves
// the next client.
import assert from 'node:assert/strict';
import { VfioUserClient } from '../../src/index.ts';
import type { ScenarioContext } from '../../src/index.ts';

export const description = 'a reply later than QEMU\'s timeout: QEMU drops the device, the server lives on';
export const options = { deviceProperties: { 'x-msg-timeout': 1000 } };

export default async function ({ bed, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  faults.add({ on: 'command', command: 'REGION_READ', action: { delay: 2500 }, count: 1 });
  const regs = await driver.regs();
  assert.equal(regs.ID, 0xffffffff, 'the guest read timed out in QEMU');
  await eventually('QEMU to report the timeout', () => /timed out|timeout/i.test(bed.vm.qemuOutput), 5000);
  await eventually('the server to drop the session', () => bed.server.session === null, 5000);
  const next = await VfioUserClient.connect(bed.server.socketPath);
  assert.equal((await next.deviceInfo()).numRegions, 9);
  next.close();
  log(`QEMU: ${bed.vm.qemuOutput.trim().split('\n').find((l) => /time/i.test(l))}`);
}
