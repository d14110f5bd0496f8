// pcitest on 6.12 without a vIOMMU, the function cut to 64 MSI-X vectors so 2
// vCPUs do (see guest-6.12-iommu.test.ts); then, in the same guest,
// the fault scenario of examples/faults/endpoint-selftest.ts (same set-up):
// exactly the tests its faults hit fail.
import test from 'ava';
import { endpointGuestSuite } from './guest-suite.ts';
import { loadScenario, runInTestbed } from '../../src/scenario/scenario.ts';
import type { Testbed } from '../../src/lab/testbed.ts';

endpointGuestSuite({
  kernel: '6.12', iommu: false, msixVectors: 64, cpus: 2,
  more: (bed) => {
    test.serial('6.12: the endpoint fault scenario (dropped MSI-X vector, late INTx, corrupted DMA read) fails exactly those tests', async (t) => {
      t.timeout(300_000);
      const mod = await loadScenario(new URL('../../examples/faults/endpoint-selftest.ts', import.meta.url).pathname);
      await runInTestbed(mod, bed() as unknown as Testbed, (l) => t.log(l));
      t.pass(mod.description);
    });
  },
});
