// Reading what pcitest and the kselftest print: results and skip reasons.
import test from 'ava';
import { parsePcitestLine, parseKtapLine, parseTotals, explainSkip, tally } from '../../src/lab/endpoint-results.ts';

test('pcitest lines: OKAY passes, NOT OKAY and TEST FAILED fail; sizes lose their padding; other lines are not results', (t) => {
  t.deepEqual(parsePcitestLine('BAR0:\t\tOKAY'), { name: 'BAR0', outcome: 'pass' });
  t.deepEqual(parsePcitestLine('MSI-X7:\t\tNOT OKAY'), { name: 'MSI-X7', outcome: 'fail' });
  t.deepEqual(parsePcitestLine('READ (   1024 bytes):\t\tTEST FAILED', ' DMA'), { name: 'READ (1024 bytes) DMA', outcome: 'fail' });
  t.deepEqual(parsePcitestLine('SET IRQ TYPE TO MSI-X:\t\tFAILED'), { name: 'SET IRQ TYPE TO MSI-X', outcome: 'fail' });
  t.is(parsePcitestLine("can't open PCI Endpoint Test device: No such file or directory"), undefined);
  t.is(parsePcitestLine(''), undefined);
});

test('KTAP lines: ok, not ok, SKIP with its reason, TIMEOUT as a failure; Totals counted', (t) => {
  t.deepEqual(parseKtapLine('ok 3 pci_ep_bar.BAR1.BAR_TEST'), { name: 'pci_ep_bar.BAR1.BAR_TEST', outcome: 'pass', reason: undefined });
  t.deepEqual(parseKtapLine('not ok 16 pci_ep_basic.MSIX_TEST'), { name: 'pci_ep_basic.MSIX_TEST', outcome: 'fail', reason: undefined });
  t.deepEqual(parseKtapLine('ok 2 pci_ep_bar.BAR0.BAR_SUBRANGE_TEST # SKIP BAR is test register space'),
    { name: 'pci_ep_bar.BAR0.BAR_SUBRANGE_TEST', outcome: 'skip', reason: 'BAR is test register space' });
  t.is(parseKtapLine('not ok 9 pci_ep_data_transfer.memcpy.READ_TEST # TIMEOUT 30 seconds')?.outcome, 'fail');
  t.is(parseKtapLine('#  RUN           pci_ep_basic.MSI_TEST ...'), undefined);
  t.deepEqual(parseTotals('# Totals: pass:21 fail:0 xfail:0 xpass:0 skip:2 error:0'), { pass: 21, fail: 0, xfail: 0, xpass: 0, skip: 2, error: 0 });
  t.is(parseTotals('# FAILED: 21 / 23 tests passed.'), undefined);
  t.deepEqual(tally([{ name: 'a', outcome: 'pass' }, { name: 'b', outcome: 'skip' }, { name: 'c', outcome: 'pass' }]), { pass: 2, fail: 0, skip: 1 });
});

test('skips are explained in terms of the set-up: no interrupt remapping, the MSI-X table size, the register BAR', (t) => {
  const c = { iommu: false, msiVectors: 1, msixVectors: 64 };
  t.regex(explainSkip('MSI2 is disabled', c)!, /without interrupt remapping gives a device a single MSI vector \(run with --iommu/);
  t.regex(explainSkip('MSI-X65 is disabled', c)!, /has 64 MSI-X vectors \(--msix-vectors; 2048 need .* 12 vCPUs\)/);
  t.regex(explainSkip('BAR is test register space', c)!, /never remaps BAR0/);
  t.is(explainSkip('something new', c), undefined);
});
