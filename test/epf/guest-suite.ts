// The kernel's own endpoint tests in a real guest: the stock
// pci_endpoint_test.ko with pcitest (6.12) or the pci_endpoint kselftest
// (7.3) against pci-epf-test, one boot per configuration. The program's
// verdicts are the assertions; the function's guest errors and the kernel's
// log must stay clean.
import test, { type ExecutionContext } from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { endpointTestbed, runEndpointTests, type EndpointRun } from '../../src/lab/endpoint-test.ts';
import type { PciEpfTestDevice } from '../../src/devices/pci-epf-test.ts';

export interface EndpointGuest {
  kernel: '6.12' | '7.3';
  iommu: boolean;
  /** The function's MSI-X vectors and the guest's vCPUs (default 2048 on 12). */
  msixVectors?: number;
  cpus?: number;
  /** More checks in the same boot, after the clean run. */
  more?: (bed: () => Testbed<PciEpfTestDevice>) => void;
}

/** Runs the program and keeps its lines (for a failure message, and for checks of single vectors). */
export async function endpointRun(t: ExecutionContext, bed: Testbed<PciEpfTestDevice>, opts: Parameters<typeof runEndpointTests>[1] = {}): Promise<EndpointRun & { lines: string[] }> {
  const lines: string[] = [];
  const r = await runEndpointTests(bed, { ...opts, onLine: (l) => lines.push(l) });
  const bad = r.cases.filter((c) => c.outcome === 'fail');
  if (bad.length || r.stuck) t.log(lines.filter((l) => /NOT OKAY|FAILED|not ok|Expected|# Totals|irqlab:/.test(l)).join('\n'));
  t.log(`${r.tool} on ${r.release}: ${r.tally.pass} passed, ${r.tally.fail} failed, ${r.tally.skip} skipped in ${r.seconds.toFixed(1)} s`);
  return { ...r, lines };
}

export function endpointGuestSuite(cfg: EndpointGuest): void {
  const vectors = cfg.msixVectors ?? 2048;
  const label = `${cfg.kernel}${cfg.iommu ? ' + vIOMMU' : ''}, ${vectors} MSI-X vectors`;
  let bed: Testbed<PciEpfTestDevice>;

  test.before(async () => {
    const { tool: _tool, ...opts } = endpointTestbed({ kernel: cfg.kernel, iommu: cfg.iommu, msixVectors: cfg.msixVectors, cpus: cfg.cpus });
    bed = await Testbed.start(opts);
  });
  test.after.always(async () => {
    await bed?.stop();
  });

  test.serial(`${label}: the kernel's ${cfg.kernel === '6.12' ? 'pcitest' : 'pci_endpoint kselftest'} passes against pci-epf-test, every skip explained`, async (t) => {
    t.timeout(600_000); // pcitest runs one process per MSI-X vector: minutes on a loaded machine
    const r = await endpointRun(t, bed);
    t.is(r.stuck, undefined);
    t.deepEqual(r.cases.filter((c) => c.outcome === 'fail').map((c) => c.name), [], 'nothing failed');
    t.deepEqual(r.splats, [], 'no kernel reports');
    t.deepEqual(r.guestErrors, [], 'the driver did nothing the function calls wrong');
    const skips = r.cases.filter((c) => c.outcome === 'skip');
    t.true(skips.every((c) => c.why), `every skip explained: ${skips.filter((c) => !c.why).map((c) => c.name).join(', ')}`);
    const names = r.cases.map((c) => c.name);
    if (r.tool === 'pcitest') {
      for (const n of ['BAR0', 'BAR5', 'LEGACY IRQ', 'MSI1', 'MSI-X1', `MSI-X${vectors}`, 'READ (1024001 bytes)', 'WRITE (1 bytes) DMA', 'COPY (1024000 bytes) DMA']) {
        t.is(r.cases.find((c) => c.name === n)?.outcome, 'pass', n);
      }
      // Without interrupt remapping an x86 guest enables one MSI vector.
      t.is(r.cases.filter((c) => /^MSI\d+$/.test(c.name) && c.outcome === 'pass').length, cfg.iommu ? 32 : 1);
      t.is(r.cases.filter((c) => /^MSI-X\d+$/.test(c.name) && c.outcome === 'pass').length, vectors);
      t.is(skips.length, (cfg.iommu ? 0 : 31) + 2048 - vectors);
    } else {
      t.regex(r.totals ?? '', /^# Totals: pass:\d+ fail:0 xfail:0 xpass:0 skip:\d+ error:0$/);
      for (const n of ['pci_ep_basic.LEGACY_IRQ_TEST', 'pci_ep_data_transfer.dma.COPY_TEST', 'pcie_ep_doorbell.DOORBELL_TEST', 'pci_ep_bar.BAR5.BAR_SUBRANGE_TEST']) {
        t.is(r.cases.find((c) => c.name === n)?.outcome, 'pass', n);
      }
      t.is(r.cases.find((c) => c.name === 'pci_ep_basic.MSI_TEST')?.outcome, cfg.iommu ? 'pass' : 'skip');
      // MSIX_TEST raises vectors 1..2048 and skips at the first the table lacks (after passing the ones before it).
      const msix = r.cases.find((c) => c.name === 'pci_ep_basic.MSIX_TEST');
      t.is(msix?.outcome, vectors === 2048 ? 'pass' : 'skip', 'MSIX_TEST');
      if (vectors < 2048) {
        t.is(msix?.reason, `MSI-X${vectors + 1} is disabled`, 'skipped at the first vector past the table');
        t.regex(msix?.why ?? '', new RegExp(`has ${vectors} MSI-X vectors`));
      }
      t.deepEqual(skips.map((c) => c.name).filter((n) => n !== 'pci_ep_basic.MSI_TEST' && n !== 'pci_ep_basic.MSIX_TEST'), ['pci_ep_bar.BAR0.BAR_SUBRANGE_TEST'], 'the register BAR is never remapped, by the kselftest\'s design');
    }
    t.true(names.length > 20);
  });

  cfg.more?.(() => bed);
}
