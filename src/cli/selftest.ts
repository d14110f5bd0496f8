// irqlab selftest pci-endpoint: the kernel's own PCI endpoint tests against
// irqlab's pci-epf-test function, in a booted guest (src/lab/endpoint-test.ts).
import { parseArgs } from 'node:util';
import { Testbed } from '../lab/testbed.ts';
import { endpointTestbed, runEndpointTests, ENDPOINT_CPUS, type EndpointRun } from '../lab/endpoint-test.ts';
import { DEFAULT_MSIX_VECTORS } from '../devices/pci-epf-test.ts';
import type { CaseResult } from '../lab/endpoint-results.ts';

const help = `usage: irqlab selftest pci-endpoint [options]

Boots a guest against pci-epf-test (irqlab's model of the kernel's PCI endpoint
test function, 16c3:edda), loads the stock host driver pci_endpoint_test.ko and
runs the kernel's own test program, printing its output as it comes:
  6.12  pcitest, in the order of tools/pci/pcitest.sh: BARs, INTx, MSI 1..32,
        MSI-X 1..2048, read/write/copy at 1..1024001 bytes, then the transfers
        again with DMA (-d)
  7.3   the pci_endpoint kselftest (its KTAP lines and its Totals line)
Then a summary: failures, every skip with the reason, kernel warnings, what the
function saw the driver get wrong. Exit status 0 only if nothing failed and the
kernel logged no WARNING/BUG/Oops.

options:
  --kernel NAME        lab kernel (default 6.12), and so the test program: pcitest
                       on 6.12 and 6.12-debug, the kselftest on 7.3 and 7.3-debug
  --iommu              an Intel vIOMMU: interrupt remapping (all 32 MSI vectors)
                       and DMA translation (the function's DMA goes by message)
  --cpus N             guest vCPUs (default ${ENDPOINT_CPUS}: x86 gives a device about
                       197 interrupt vectors per vCPU, and 2048 MSI-X need them all)
  --msix-vectors N     the function's MSI-X table size, 1..2048 (default ${DEFAULT_MSIX_VECTORS})
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      kernel: { type: 'string', default: '6.12' },
      iommu: { type: 'boolean' },
      cpus: { type: 'string' },
      'msix-vectors': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'pci-endpoint') {
    process.stderr.write(`irqlab selftest: ${positionals.length ? `unknown suite "${positionals.join(' ')}"` : 'which suite?'}; the suites: pci-endpoint\n\n${help}`);
    return 2;
  }
  const kernel = values.kernel;
  const cpus = intOption(values.cpus, '--cpus', 1, 64);
  const msixVectors = intOption(values['msix-vectors'], '--msix-vectors', 1, 2048);

  const t0 = Date.now();
  const say = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${s}\n`);
  const { tool, ...opts } = endpointTestbed({ kernel, iommu: values.iommu, cpus, msixVectors });
  say(`booting ${kernel}${opts.iommu ? ' with a vIOMMU' : ''}, ${opts.cpus} vCPUs, against pci-epf-test (${opts.device.msix?.count ?? 0} MSI-X vectors)...`);
  const bed = await Testbed.start({ ...opts, onProgress: (p) => say(p.message) });
  let result: EndpointRun;
  const bootSeconds = (Date.now() - t0) / 1000;
  try {
    say(`loading pci_endpoint_test.ko and running ${tool === 'pcitest' ? 'pcitest' : 'the pci_endpoint kselftest'}`);
    result = await runEndpointTests(bed, { onLine: (l) => process.stdout.write(`${l}\n`) });
  } finally {
    await bed.stop();
  }
  process.stdout.write(summary(result, { kernel, iommu: opts.iommu === true, cpus: opts.cpus!, bootSeconds }));
  return result.tally.fail === 0 && result.splats.length === 0 && !result.stuck ? 0 : 1;
}

function intOption(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw Object.assign(new Error(`${name} must be an integer in ${min}..${max}, got "${v}"`), { code: 'ERR_PARSE_ARGS_INVALID' });
  return n;
}

/** Skips that share a reason are one line ("MSI2..MSI32"). */
function skipLines(cases: CaseResult[]): string[] {
  const byWhy = new Map<string, CaseResult[]>();
  for (const c of cases.filter((x) => x.outcome === 'skip')) {
    const key = `${c.reason ?? ''}|${c.why ?? ''}`;
    byWhy.set(key, [...(byWhy.get(key) ?? []), c]);
  }
  return [...byWhy.values()].map((cs) => {
    const names = cs.length > 2 ? `${cs[0].name}..${cs[cs.length - 1].name} (${cs.length})` : cs.map((c) => c.name).join(', ');
    const c = cs[0];
    return `${names}: ${c.why ?? `"${c.reason}" (the program's reason; irqlab knows no more)`}`;
  });
}

function summary(r: EndpointRun, o: { kernel: string; iommu: boolean; cpus: number; bootSeconds: number }): string {
  const rows: [string, string][] = [];
  const list = (label: string, lines: string[], none: string) => {
    if (!lines.length) rows.push([label, none]);
    lines.forEach((l, i) => rows.push([i ? '' : label, l]));
  };
  rows.push(['guest', `${r.release}, ${o.iommu ? 'vIOMMU (interrupt remapping, DMA translation)' : 'no vIOMMU'}, ${o.cpus} vCPUs`]);
  list('failed', r.cases.filter((c) => c.outcome === 'fail').map((c) => `${c.name}${c.reason ? ` (${c.reason})` : ''}`), 'none');
  list('skipped', skipLines(r.cases), 'none');
  if (r.stuck) rows.push(['stuck', r.stuck]);
  list('kernel log', r.splats.slice(0, 5).flatMap((x) => x.split('\n')), 'no WARNING, BUG, Oops or other kernel report');
  list('function', r.guestErrors.slice(0, 5).map((e) => `guest error: ${e}`), 'no guest errors: the driver did nothing the function calls wrong');
  rows.push(['time', `boot ${o.bootSeconds.toFixed(1)} s, tests ${r.seconds.toFixed(1)} s`]);
  const ok = r.tally.fail === 0 && r.splats.length === 0 && !r.stuck;
  rows.push(['result', `${ok ? 'PASS' : 'FAIL'}: ${r.tally.pass} passed, ${r.tally.fail} failed, ${r.tally.skip} skipped`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  const body = rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
  // The program's own verdict last: the kselftest's Totals line, or pcitest's count.
  const last = r.tool === 'kselftest'
    ? r.totals ?? '# Totals: (the kselftest printed none)'
    : `pcitest: ${r.tally.pass} OKAY, ${r.tally.fail} NOT OKAY, ${r.tally.skip} skipped`;
  return `\nirqlab selftest pci-endpoint (${o.kernel}, ${r.tool})\n${body}\n${last}\n`;
}
