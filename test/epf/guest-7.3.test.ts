// The pci_endpoint kselftest on 7.3 without a vIOMMU; then, in the same
// guest, the kselftest again under faults: exactly the tests they hit fail.
import test from 'ava';
import { endpointGuestSuite, endpointRun } from './guest-suite.ts';

const failed = (r: { cases: { name: string; outcome: string }[] }) => r.cases.filter((c) => c.outcome === 'fail').map((c) => c.name);

endpointGuestSuite({
  // 256 vectors on 2 vCPUs: the faults need no more, and a 12-vCPU guest is
  // the one 7.3-iommu.test.ts boots for all 2048.
  kernel: '7.3', iommu: false, msixVectors: 256, cpus: 2,
  more: (bed) => {
    test.serial('7.3: a dropped MSI-X vector and an INTx later than the driver waits fail that vector and LEGACY_IRQ_TEST only', async (t) => {
      t.timeout(300_000);
      const { faults } = bed().device;
      t.teardown(() => faults.clear());
      faults.add({ on: 'irq', kind: 'msix', index: 99, action: 'drop', count: 1 });
      faults.add({ on: 'irq', kind: 'intx', action: { delay: 1500 }, count: 1 });
      const r = await endpointRun(t, bed());
      t.deepEqual(failed(r), ['pci_ep_basic.LEGACY_IRQ_TEST']);
      t.regex(r.totals ?? '', /fail:1 /);
      // MSIX_TEST ends in a skip at the first vector past the table (257), which the
      // kselftest harness reports over a failed EXPECT: the vector's own line says it.
      t.deepEqual(r.lines.filter((l) => /Test failed for MSI-X\d+/.test(l)).map((l) => /MSI-X(\d+)/.exec(l)![1]), ['100'], 'vector 100 (index 99) failed, and no other');
      t.deepEqual(r.splats, []);
    });

    test.serial('7.3: a corrupted DMA read fails the WRITE_TEST it hits (the function checks the host buffer\'s CRC)', async (t) => {
      t.timeout(300_000);
      const { faults } = bed().device;
      t.teardown(() => faults.clear());
      faults.add({ on: 'dma', direction: 'read', action: 'corrupt', count: 1 });
      // The kselftest's own filter: only this test, so the one corrupted read is its.
      const r = await endpointRun(t, bed(), { args: ['-r', 'pci_ep_data_transfer.memcpy.WRITE_TEST'] });
      t.deepEqual(failed(r), ['pci_ep_data_transfer.memcpy.WRITE_TEST']);
      t.is(r.totals, '# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0');
      const again = await endpointRun(t, bed(), { args: ['-r', 'pci_ep_data_transfer.memcpy.WRITE_TEST'] });
      t.deepEqual(failed(again), [], 'one read was corrupted, the next run passes');
    });
  },
});
