// The kernel-log watchdog: every guest the lab boots is watched for splats
// (splat.ts). A test, scenario or demo asks `check()` at its end: splats it
// did not expect fail it, quoted; a splat it expected and did not get fails
// it too. The kernel's log buffer (dmesg) is read through the agent, since the
// console is quiet during boot; when the guest can no longer answer, the
// console text is what is left.
import { findSplats, describeSplat, stripStamp, type Splat } from './splat.ts';
import { readKernelConfig, type ResolvedKernel } from './lab.ts';

/** The debug options that make a kernel report what a stock kernel does not. */
const CHECKERS: [option: string, name: string][] = [
  ['CONFIG_PROVE_LOCKING', 'lockdep'],
  ['CONFIG_DEBUG_ATOMIC_SLEEP', 'atomic-sleep'],
  ['CONFIG_DEBUG_SHIRQ', 'shirq'],
  ['CONFIG_GENERIC_IRQ_DEBUGFS', 'irq-debugfs'],
  ['CONFIG_KASAN', 'kasan'],
  ['CONFIG_UBSAN', 'ubsan'],
  ['CONFIG_PROVE_RCU', 'rcu'],
];

/** Names of the debug checkers built into a kernel ([] for stock or unknown kernels). */
export function kernelCheckers(kernel: ResolvedKernel): string[] {
  if (!kernel.config) return [];
  const config = readKernelConfig(kernel.config);
  return CHECKERS.filter(([o]) => config.get(o) === 'y').map(([, n]) => n);
}

export class KernelSplatError extends Error {
  override name = 'KernelSplatError';
  constructor(message: string, readonly report: KernelLogReport) {
    super(message);
  }

  get splats(): Splat[] {
    return this.report.unexpected;
  }
}

/** What a Vm gives the watchdog. */
export interface KernelLogSource {
  /** The kernel log buffer (throws when the guest cannot answer). */
  dmesg(): Promise<string>;
  /** Everything the console printed. */
  readonly console: string;
  readonly kernel: ResolvedKernel;
}

export interface KernelLogReport {
  /** Splats since the last mark that no expectation claimed. */
  unexpected: Splat[];
  /** Splats claimed by an expectation. */
  expected: Splat[];
  /** Expectations no splat met. */
  missing: RegExp[];
  /** Debug checkers the kernel has. */
  checkers: string[];
  /** Read from the console because dmesg could not be. */
  fromConsole: boolean;
}

export class KernelLog {
  /** Splats before this one were already reported (or accepted). */
  private seen = 0;
  private expectations: RegExp[] = [];
  readonly checkers: string[];

  constructor(private readonly src: KernelLogSource) {
    this.checkers = kernelCheckers(src.kernel);
  }

  /** All splats in the kernel log so far. */
  async splats(): Promise<{ splats: Splat[]; fromConsole: boolean }> {
    try {
      return { splats: findSplats(await this.src.dmesg()), fromConsole: false };
    } catch {
      return { splats: findSplats(this.src.console), fromConsole: true };
    }
  }

  /**
   * Says that a splat matching `pattern` (tested against its title and its
   * lines) is coming and is wanted; the next check() fails if it does not.
   */
  expect(pattern: RegExp): void {
    this.expectations.push(pattern);
  }

  /** Forgets splats so far (they were reported elsewhere) and expectations. */
  async mark(): Promise<void> {
    this.seen = (await this.splats()).splats.length;
    this.expectations = [];
  }

  /** Splats since the last check or mark, sorted into expected and not. */
  async report(): Promise<KernelLogReport> {
    const { splats, fromConsole } = await this.splats();
    // The console keeps fewer lines than dmesg: count from where it starts.
    const fresh = splats.slice(fromConsole ? 0 : this.seen);
    this.seen = fromConsole ? this.seen : splats.length;
    const expected: Splat[] = [];
    const unexpected: Splat[] = [];
    const met = new Set<RegExp>();
    for (const s of fresh) {
      const claim = this.expectations.find((re) => re.test(s.title) || s.lines.some((l) => re.test(l)));
      if (claim) {
        met.add(claim);
        expected.push(s);
      } else unexpected.push(s);
    }
    const missing = this.expectations.filter((re) => !met.has(re));
    this.expectations = [];
    return { unexpected, expected, missing, checkers: this.checkers, fromConsole };
  }

  /** Throws KernelSplatError quoting what went wrong; returns the report when clean. */
  async check(): Promise<KernelLogReport> {
    const r = await this.report();
    if (r.unexpected.length === 0 && r.missing.length === 0) return r;
    throw new KernelSplatError(describeProblems(r), r);
  }

  /** A report's problems as a failure message quotes them ('' when clean). */
  describe(r: KernelLogReport): string {
    return describeProblems(r);
  }
}

function describeProblems(r: KernelLogReport): string {
  const parts: string[] = [];
  if (r.unexpected.length) {
    const n = r.unexpected.length;
    const shown = r.unexpected.slice(0, 3).map((s) => `  ${describeSplat(s).replaceAll('\n', '\n  ')}`);
    parts.push(`the guest kernel reported ${n} problem${n > 1 ? 's' : ''}:\n${shown.join('\n')}${n > 3 ? `\n  (and ${n - 3} more)` : ''}`);
  }
  for (const re of r.missing) parts.push(`the guest kernel did not report the expected ${re}`);
  return parts.join('\n');
}

/** One line for the end of a run: clean with which checkers, or the first splat. */
export function summarizeKernelLog(r: KernelLogReport): string {
  const on = r.checkers.length ? `${r.checkers.join(', ')} on` : 'stock kernel: no lockdep or other debug checkers';
  if (r.unexpected.length === 0 && r.missing.length === 0) {
    const exp = r.expected.length ? `; ${r.expected.length} expected report(s)` : '';
    return `kernel log: clean (${on})${exp}`;
  }
  if (r.unexpected.length) return `kernel log: ${r.unexpected.length} problem(s) (${on}); first: ${stripStamp(r.unexpected[0].title)}`;
  return `kernel log: missing expected report ${r.missing[0]} (${on})`;
}
