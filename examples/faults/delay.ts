// A late interrupt: queue 4's IMS message leaves 2 s after the completion;
// the one after it waits behind it, so both leave late and in order. They
// leave together, so the guest's APIC may merge them into one interrupt (as
// hardware does): the guest counts at least one, the device sent two.
import assert from 'node:assert/strict';
import type { ScenarioContext } from '../../src/index.ts';
import type { IrqEvent } from '../../src/index.ts';

export const description = 'a delayed IMS interrupt arrives late, and what follows stays behind it';

export default async function ({ device, driver, faults, log, eventually }: ScenarioContext): Promise<void> {
  faults.add({ on: 'irq', kind: 'ims', index: 4, action: { delay: 2000 }, count: 1 });
  const events: { at: number; e: IrqEvent }[] = [];
  const watch = (e: IrqEvent) => { if (e.kind === 'ims' && e.index === 4) events.push({ at: Date.now(), e }); };
  device.on('irq', watch);
  try {
    const before = await driver.queueCount(4);
    const t0 = Date.now();
    assert.deepEqual(device.complete(4, 1), ['queued'], 'held by the fault');
    assert.deepEqual(device.complete(4, 1), ['queued'], 'not delayed itself, but behind the first');
    const sent = () => events.filter(({ e }) => e.outcome === 'delivered');
    await eventually('both interrupts sent', () => sent().length === 2, 8000);
    await eventually('the interrupt in the guest', async () => (await driver.queueCount(4)) >= before + 1);
    const [first, second] = sent();
    // A lower bound only: a loaded machine can make it later, never earlier.
    assert.ok(first.at - t0 >= 1950, `the first left after ${first.at - t0} ms`);
    assert.ok(second.at - t0 >= 1950, `the second, not delayed itself, waited behind the first (left after ${second.at - t0} ms)`);
    assert.equal(sent().length, 2, 'sent once each');
    log(`queue 4: first interrupt sent after ${first.at - t0} ms; the second followed it; the guest counted ${(await driver.queueCount(4)) - before}`);
  } finally {
    device.off('irq', watch);
  }
}
