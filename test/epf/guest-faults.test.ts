// examples/faults/endpoint-selftest.ts end to end: pcitest on 6.12 under a
// dropped MSI-X vector, a late INTx and a corrupted DMA read; exactly the
// tests those faults hit fail.
import test from 'ava';
import { runScenarioFile } from '../../src/scenario/scenario.ts';

test('fault scenario endpoint-selftest (own 6.12 guest): exactly the tests the faults hit fail', async (t) => {
  await runScenarioFile(new URL('../../examples/faults/endpoint-selftest.ts', import.meta.url).pathname, {}, (l) => t.log(l));
  t.pass();
});
