// irqlab selftest: what it says before it boots anything.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { irqlabBin } from '../helpers/spawn-serve.ts';

const irqlab = (...args: string[]) => spawnSync(process.execPath, [irqlabBin, ...args], { encoding: 'utf8', timeout: 60_000 });

test('irqlab selftest --help names the suite, the programs and the options', (t) => {
  const r = irqlab('selftest', '--help');
  t.is(r.status, 0);
  for (const s of ['pci-endpoint', 'pcitest', 'kselftest', '--kernel', '--iommu', '--cpus', '--msix-vectors']) t.true(r.stdout.includes(s), s);
  t.regex(irqlab('--help').stdout, /selftest +run the kernel's own PCI endpoint tests/);
});

test('irqlab selftest refuses an unknown suite, kernel or option value, saying what is valid (status 2, or 1 for the kernel)', (t) => {
  const none = irqlab('selftest');
  t.is(none.status, 2);
  t.regex(none.stderr, /which suite\?; the suites: pci-endpoint/);
  const other = irqlab('selftest', 'pci-enpdoint');
  t.is(other.status, 2);
  t.regex(other.stderr, /unknown suite "pci-enpdoint"/);
  const cpus = irqlab('selftest', 'pci-endpoint', '--cpus', '0');
  t.is(cpus.status, 2);
  t.regex(cpus.stderr, /--cpus must be an integer in 1\.\.64, got "0"/);
  const vectors = irqlab('selftest', 'pci-endpoint', '--msix-vectors', '4096');
  t.is(vectors.status, 2);
  t.regex(vectors.stderr, /--msix-vectors must be an integer in 1\.\.2048, got "4096"/);
  const kernel = irqlab('selftest', 'pci-endpoint', '--kernel', '5.10');
  t.is(kernel.status, 1);
  t.regex(kernel.stderr, /no pci_endpoint_test\.ko for kernel "5\.10": set-up builds it for the lab kernels \(6\.12, 7\.3/);
});
