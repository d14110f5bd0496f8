// A scenario for a device of one's own: the README's counter device
// (examples/counter-device.ts), driven in the guest by the generic guest
// driver (options.bind), with every 2nd interrupt of MSI-X vector 1 dropped.
// The guest counts half of vector 1's interrupts and all of the others'; a
// register write from the guest (RAISE) fires a vector too.
//
//   irqlab run examples/scenarios/counter-every-other.ts
import assert from 'node:assert/strict';
import { scenario, type PciFunction } from '../../src/index.ts';
import createCounterDevice from '../counter-device.ts';

export const description = 'the counter device, every 2nd interrupt of MSI-X vector 1 dropped: the guest counts half of them';
export const device = createCounterDevice;
export const options = { bind: true };

const ROUNDS = 6;
const RAISE = 0x0c;
const COUNT = 0x08;

export default scenario<PciFunction>(async ({ device, generic, faults, eventually, log }) => {
  assert.ok(generic, 'the generic guest driver is bound (options.bind)');
  const info = await generic.info();
  assert.equal(info.mode, 'msix');
  assert.equal(info.vectors, 4, 'every vector the function offers');

  faults.add({ on: 'irq', kind: 'msix', index: 1, action: 'drop', every: 2 });
  const before = await generic.counts();
  const got = async () => (await generic.counts()).map((n, v) => n - before[v]);
  for (let r = 1; r <= ROUNDS; r++) {
    // One fire per vector per round: the guest's APIC merges back-to-back fires of one vector.
    for (let v = 0; v < 4; v++) device.msix!.fire(v);
    await eventually(`round ${r} in the guest`, async () => {
      const c = await got();
      return c[0] >= r && c[2] >= r && c[3] >= r && c[1] >= Math.ceil(r / 2);
    });
  }
  const counted = await got();
  log(`sent ${ROUNDS} per vector; the guest counted ${counted.join(', ')}`);
  assert.deepEqual(counted, [ROUNDS, ROUNDS / 2, ROUNDS, ROUNDS]);
  assert.equal(device.counters.get('msix', 1, 'dropped'), ROUNDS / 2);

  // From the guest: a write to RAISE fires the vector it names.
  await generic.write(0, RAISE, 3);
  await eventually('the interrupt RAISE fired', async () => (await got())[3] === ROUNDS + 1);
  assert.equal(await generic.read(0, COUNT), 1n, 'COUNT: one RAISE');
});
