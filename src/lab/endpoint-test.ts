// The kernel's own PCI endpoint tests against pci-epf-test: a guest booted
// against the function loads the stock host driver (pci_endpoint_test.ko,
// built by set-up from Debian's linux-source) and runs the kernel's test
// program -- pcitest in the order tools/pci/pcitest.sh runs it (6.12), or the
// pci_endpoint kselftest (7.3) -- while this process watches the output, the
// kernel log and the device.
import { basename } from 'node:path';
import { loadLab } from '../vm/index.ts';
import { describeSplat } from '../vm/splat.ts';
import type { Testbed, TestbedOptions } from './testbed.ts';
import type { PciFunction } from '../pci/function.ts';
import { PciEpfTestDevice, DEFAULT_MSIX_VECTORS } from '../devices/pci-epf-test.ts';
import { runStreaming } from './guest-stream.ts';
import {
  parsePcitestLine, parseKtapLine, parseTotals, explainSkip, explainMsiSkip, tally,
  type CaseResult, type SkipContext, type Tally,
} from './endpoint-results.ts';

/** A lab kernel: '6.12' runs pcitest (tools/pci), later ones the kselftest. */
export type EndpointKernel = string;

/**
 * vCPUs a guest needs for the driver to take all 2048 MSI-X vectors: x86
 * gives a device about 197 vectors per vCPU (measured: 2 vCPUs take 394;
 * the 395th request_irq fails), and the driver asks for all at once.
 */
export const ENDPOINT_CPUS = 12;

export interface EndpointTools {
  kernel: EndpointKernel;
  tool: 'pcitest' | 'kselftest';
  module: string;
  program: string;
}

/**
 * The driver and test program set-up built for a lab kernel (lab.json's
 * endpoint): tools/pci's pcitest left the tree after 6.12, where the
 * kselftest took over.
 */
export function endpointTools(kernel: string): EndpointTools {
  const ep = loadLab().endpoint;
  const module = ep.modules[kernel];
  if (!module) {
    throw new Error(`no pci_endpoint_test.ko for kernel "${kernel}": set-up builds it for the lab kernels (${Object.keys(ep.modules).join(', ')})`);
  }
  const tool = kernel.startsWith('6.') ? 'pcitest' : 'kselftest';
  return { kernel, tool, module, program: tool === 'pcitest' ? ep.pcitest : ep.kselftest };
}

export interface EndpointBootOptions {
  kernel?: EndpointKernel;
  iommu?: boolean;
  cpus?: number;
  msixVectors?: number;
}

/**
 * Testbed options for the endpoint tests: the function, enough vCPUs for its
 * MSI-X vectors, and the driver and program in the guest's /irqlab/modules.
 */
export function endpointTestbed(o: EndpointBootOptions = {}): TestbedOptions<PciEpfTestDevice> & { device: PciEpfTestDevice; kernel: EndpointKernel; tool: EndpointTools['tool'] } {
  const kernel = o.kernel ?? '6.12';
  const t = endpointTools(kernel);
  const cpus = o.cpus ?? ENDPOINT_CPUS;
  return {
    device: new PciEpfTestDevice({ msixVectors: o.msixVectors ?? DEFAULT_MSIX_VECTORS }),
    kernel, tool: t.tool, iommu: o.iommu, cpus, modules: [t.module, t.program],
    // Bringing up each vCPU costs TCG about a second (12 boot in ~15 s where
    // 2 take ~6): more room on a busy machine than the lab's 60 s.
    bootTimeoutMs: cpus > 2 ? 120_000 : undefined,
  };
}

export interface EndpointRunOptions {
  /** Every line the program prints, our group headers and skip notes, as they come. */
  onLine?(line: string): void;
  /** pcitest: called (and awaited) before each group ("BAR tests", "Write Tests"...). */
  beforeGroup?(group: string): Promise<void> | void;
  /** kselftest: its arguments (e.g. ['-r', 'pci_ep_data_transfer.memcpy.WRITE_TEST']). */
  args?: string[];
  /** The program printed nothing for this long: it is stuck (default 90 s). */
  stallMs?: number;
}

export interface EndpointRun {
  tool: 'pcitest' | 'kselftest';
  release: string;
  cases: CaseResult[];
  tally: Tally;
  /** The kselftest's own "# Totals:" line. */
  totals?: string;
  /** Kernel warnings, BUGs, oopses... in the guest's log, described (src/vm/splat.ts). */
  splats: string[];
  /** What the function reported as the driver's mistakes. */
  guestErrors: string[];
  /** Set when the program stopped printing (a driver waiting forever for an interrupt). */
  stuck?: string;
  seconds: number;
}

/** Runs the test program for the guest's kernel; the testbed must serve pci-epf-test. */
export async function runEndpointTests(bed: Testbed<PciFunction>, opts: EndpointRunOptions = {}): Promise<EndpointRun> {
  const device = bed.device;
  if (!(device instanceof PciEpfTestDevice)) throw new Error('the endpoint tests need a testbed serving pci-epf-test (see endpointTestbed)');
  const t0 = Date.now();
  const { vm } = bed;
  const tools = endpointTools(vm.kernel.name);
  const guestErrors: string[] = [];
  // Kept to the first 100: a driver gone wrong can repeat one mistake forever.
  const onError = (m: string) => { if (guestErrors.length < 100) guestErrors.push(m); };
  device.on('guest-error', onError);
  try {
    // Loaded once per boot: a second run in the same guest reuses it.
    if ((await vm.run('test -d /sys/module/pci_endpoint_test')).status !== 0) await vm.insmod(basename(tools.module));
    const dev = await vm.run('ls /dev/pci-endpoint-test.* 2>/dev/null');
    if (dev.status !== 0) throw new Error(`pci_endpoint_test.ko loaded but made no /dev/pci-endpoint-test.*: ${(await vm.dmesg()).trim().split('\n').slice(-5).join(' | ')}`);
    const program = `/irqlab/modules/${basename(tools.program)}`;
    const ctx: SkipContext = { iommu: false, msixVectors: device.msix?.count ?? 0 };
    ctx.iommu = (await vm.run('ls /sys/class/iommu 2>/dev/null | grep -q .')).status === 0;
    const out = tools.tool === 'pcitest' ? await runPcitest(bed, program, ctx, opts) : await runKselftest(bed, program, ctx, opts);
    // Every kernel report since boot that nothing declared expected (src/vm/kernel-log.ts).
    const splats = (await vm.kernelLog.report()).unexpected.map((x) => describeSplat(x, 3));
    return { tool: tools.tool, release: vm.release, ...out, tally: tally(out.cases), splats, guestErrors, seconds: (Date.now() - t0) / 1000 };
  } finally {
    device.off('guest-error', onError);
  }
}

interface ProgramResult {
  cases: CaseResult[];
  totals?: string;
  stuck?: string;
}

/** The pcitest runs of tools/pci/pcitest.sh, in its order, as groups. */
const SIZES = [1, 1024, 1025, 1024000, 1024001];

async function runPcitest(bed: Testbed<PciFunction>, p: string, ctx: SkipContext, opts: EndpointRunOptions): Promise<ProgramResult> {
  const cases: CaseResult[] = [];
  const say = (l: string) => opts.onLine?.(l);
  // Vectors the driver got, counted from its lines in /proc/interrupts; with
  // none, the driver's own complaint.
  const count = `n=$(grep -c 'pci-endpoint-test' /proc/interrupts); echo "@irqlab vectors $n"
[ "$n" = 0 ] && dmesg | grep 'Failed to' | tail -n 1 | sed 's/^/@irqlab dmesg /'`;
  const loop = (flag: string, max: number) => `i=1; while [ $i -le $n ] && [ $i -le ${max} ]; do ${p} ${flag} $i; i=$((i + 1)); done`;
  const transfers = (flag: string, dma: boolean) => SIZES.map((s) => `${p} ${flag}${dma ? ' -d' : ''} -s ${s}`).join('\n');
  const groups: Group[] = [
    { name: 'BAR tests', script: [0, 1, 2, 3, 4, 5].map((b) => `${p} -b ${b}`).join('\n') },
    { name: 'Interrupt tests: INTx', script: `${p} -i 0\n${p} -l` },
    { name: 'Interrupt tests: MSI', script: `${p} -i 1\n${count}\n${loop('-m', 32)}`, vectors: { kind: 'MSI', max: 32 } },
    { name: 'Interrupt tests: MSI-X', script: `${p} -i 2\n${count}\n${loop('-x', 2048)}`, vectors: { kind: 'MSI-X', max: 2048 } },
    { name: 'Read Tests', script: `${p} -i 1\n${transfers('-r', false)}` },
    { name: 'Write Tests', script: transfers('-w', false) },
    { name: 'Copy Tests', script: transfers('-c', false) },
    { name: 'Read Tests (DMA)', script: transfers('-r', true), suffix: ' DMA' },
    { name: 'Write Tests (DMA)', script: transfers('-w', true), suffix: ' DMA' },
    { name: 'Copy Tests (DMA)', script: transfers('-c', true), suffix: ' DMA' },
  ];
  // What the lines say, group by group: "@irqlab" lines are ours, the rest pcitest's.
  let g: Group | undefined;
  let vectors = 0;
  let complaint = '';
  const endGroup = () => {
    if (g?.vectors && vectors < g.vectors.max) {
      // pcitest would wait 1 s for each vector the driver does not have and
      // call it NOT OKAY; the kselftest skips them. Skip them here, and say why.
      const { kind, max } = g.vectors;
      const why = kind === 'MSI' ? explainMsiSkip(ctx) : vectors === 0 ? msixSetupFailure(complaint) : explainSkip(`MSI-X${vectors + 1} is disabled`, ctx)!;
      const names = Array.from({ length: max - vectors }, (_, i) => `${kind}${vectors + 1 + i}`);
      say(`${names[0]}${names.length > 1 ? `..${names[names.length - 1]}` : ''}:\tSKIPPED (${why})`);
      for (const name of names) cases.push({ name, outcome: 'skip', reason: `${kind}${vectors + 1} is disabled`, why });
    }
    if (g) say('');
  };
  const onLine = (line: string) => {
    const m = /^@irqlab (group|vectors|dmesg) (.*)$/.exec(line);
    if (m?.[1] === 'group') {
      endGroup();
      g = groups[Number(m[2])];
      vectors = 0;
      complaint = '';
      say(g.name);
    } else if (m?.[1] === 'vectors') {
      vectors = Number(m[2]);
      if (g?.vectors?.kind === 'MSI') ctx.msiVectors = vectors;
    } else if (m?.[1] === 'dmesg') {
      complaint = m[2];
    } else {
      say(line);
      const c = parsePcitestLine(line, line.startsWith('SET IRQ') ? '' : g?.suffix);
      if (c) cases.push(c);
    }
  };
  const part = (i: number) => `echo '@irqlab group ${i}'\n${groups[i].script}`;
  const stream = (script: string) => runStreaming(bed.vm, script, onLine, { stallMs: opts.stallMs ?? 90_000 });
  let stuck: string | undefined;
  if (opts.beforeGroup) {
    // One guest script per group, so the caller acts between them.
    for (let i = 0; i < groups.length && !stuck; i++) {
      await opts.beforeGroup(groups[i].name);
      stuck = (await stream(part(i))).stuck;
    }
  } else {
    // One script for all: each guest request costs time on a busy machine.
    stuck = (await stream(groups.map((_, i) => part(i)).join('\n'))).stuck;
  }
  if (stuck) {
    stuck = `${g?.name ?? 'pcitest'}: ${stuck}`;
    say(`irqlab: ${stuck}`);
  } else endGroup();
  return { cases, stuck };
}

interface Group {
  name: string;
  script: string;
  /** Appended to the test names (the DMA runs print the same lines). */
  suffix?: string;
  /** The group tests vectors 1..max of the driver's. */
  vectors?: { kind: 'MSI' | 'MSI-X'; max: number };
}

/** Why the driver got no MSI-X vectors, from its complaint in the kernel log. */
function msixSetupFailure(complaint: string): string {
  const m = /Failed to request IRQ \d+ for MSI-X (\d+)/.exec(complaint);
  if (m) return `the guest ran out of interrupt vectors at MSI-X ${m[1]} (about 197 per vCPU): boot with more vCPUs (--cpus) or give the function fewer vectors (--msix-vectors)`;
  return `the driver could not set up MSI-X${complaint ? `: ${complaint.replace(/^\[[^\]]*\]\s*/, '')}` : ''}`;
}

async function runKselftest(bed: Testbed<PciFunction>, p: string, ctx: SkipContext, opts: EndpointRunOptions): Promise<ProgramResult> {
  const cases: CaseResult[] = [];
  let totals: string | undefined;
  const args = (opts.args ?? []).map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const r = await runStreaming(bed.vm, `${p} ${args}`, (line) => {
    opts.onLine?.(line);
    const c = parseKtapLine(line);
    if (c) {
      if (c.outcome === 'skip') c.why = explainSkip(c.reason ?? '', ctx);
      cases.push(c);
    }
    if (parseTotals(line)) totals = line;
  }, { stallMs: opts.stallMs ?? 90_000 });
  if (r.stuck) opts.onLine?.(`irqlab: ${r.stuck}`);
  // How many MSI vectors the driver had (for the explanation of MSI skips).
  if (cases.some((c) => c.outcome === 'skip' && /^MSI\d/.test(c.reason ?? ''))) {
    ctx.msiVectors = Number((await bed.vm.run("grep -c 'pci-endpoint-test' /proc/interrupts")).stdout.trim()) || 1;
    for (const c of cases) if (c.outcome === 'skip') c.why = explainSkip(c.reason ?? '', ctx);
  }
  return { cases, totals, stuck: r.stuck };
}
