// The kernel's own view without a vIOMMU (the suites on the debug kernels run
// with one): MSI-X and IMS sit directly on the vector domain, and the irq
// debugfs chain must still match the module's hierarchy, level by level.
import test, { type ExecutionContext } from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { kernelViewChecks } from './kernel-view.ts';

for (const kernel of ['6.12-debug', '7.3-debug'] as const) {
  let bed: Testbed;
  const serial = (name: string, fn: (t: ExecutionContext) => Promise<void>) => test.serial(`${kernel}, no vIOMMU: ${name}`, async (t) => {
    bed = await Testbed.start({ kernel, cpus: 2 });
    try {
      await fn(t);
      t.true((await bed.driver!.hierarchy()).every((r) => r.chain.length === 2 && r.chain[1] === 'VECTOR'), 'no remapping level');
      await bed.vm.kernelLog.check();
    } finally {
      await bed.stop();
    }
  });
  kernelViewChecks({ serial, bed: () => bed, drv: () => bed.driver!, cfg: { kernel, iommu: false } });
}
