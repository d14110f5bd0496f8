// What the kernel's endpoint test programs print, read back as results:
// pcitest's "NAME:<tabs>OKAY" lines (6.12) and the kselftest's KTAP lines
// (7.x), each skip with the reason a person needs.

export type Outcome = 'pass' | 'fail' | 'skip';

export interface CaseResult {
  name: string;
  outcome: Outcome;
  /** The program's own reason (KTAP "# SKIP ..."), or ours for a skip we decided. */
  reason?: string;
  /** Why, in irqlab's terms (for skips). */
  why?: string;
}

/** What the guest gave the device: explains skips. */
export interface SkipContext {
  iommu: boolean;
  msiVectors?: number;
  msixVectors: number;
}

/** pcitest (6.12) prints "BAR0:\t\tOKAY", "MSI-X7:\t\tNOT OKAY", "READ (   1024 bytes):\t\tTEST FAILED". */
export function parsePcitestLine(line: string, suffix = ''): CaseResult | undefined {
  const m = /^(.+?):\s+(OKAY|NOT OKAY|TEST FAILED|FAILED)\s*$/.exec(line);
  if (!m) return undefined;
  const name = m[1].replace(/\(\s+/, '(').replace(/\s+/g, ' ') + suffix;
  return { name, outcome: m[2] === 'OKAY' ? 'pass' : 'fail' };
}

/** KTAP: "ok 3 pci_ep_bar.BAR1.BAR_TEST", "not ok 9 ...", "ok 2 ... # SKIP BAR is test register space". */
export function parseKtapLine(line: string): CaseResult | undefined {
  const m = /^(not ok|ok) \d+ (\S+)(?:\s+#\s*(SKIP|XFAIL|TIMEOUT)\s*(.*))?$/.exec(line);
  if (!m) return undefined;
  const directive = m[3];
  if (directive === 'SKIP') return { name: m[2], outcome: 'skip', reason: m[4] };
  return { name: m[2], outcome: m[1] === 'ok' ? 'pass' : 'fail', reason: directive ? `${directive} ${m[4]}`.trim() : undefined };
}

/** The kselftest's "# Totals: pass:21 fail:0 xfail:0 xpass:0 skip:2 error:0". */
export function parseTotals(line: string): Record<string, number> | undefined {
  if (!line.startsWith('# Totals:')) return undefined;
  return Object.fromEntries([...line.matchAll(/(\w+):(\d+)/g)].map((m) => [m[1], Number(m[2])]));
}

/** Why MSI vectors above what the guest enabled are skipped. */
export function explainMsiSkip(c: SkipContext): string {
  const n = c.msiVectors ?? 1;
  return c.iommu
    ? `the guest enabled ${n} of the function's 32 MSI vectors`
    : `the guest enabled ${n} of the function's 32 MSI vectors: an x86 guest without interrupt remapping gives a device a single MSI vector (run with --iommu for all 32)`;
}

/** Why a test was skipped, in terms of this set-up; undefined when we do not know. */
export function explainSkip(reason: string, c: SkipContext): string | undefined {
  if (/BAR is test register space/.test(reason)) return "by the kselftest's design: it never remaps BAR0, which holds the test registers";
  if (/^MSI\d+ is disabled/.test(reason)) return explainMsiSkip(c);
  if (/^MSI-X\d+ is disabled/.test(reason)) {
    return `the function has ${c.msixVectors} MSI-X vectors${c.msixVectors < 2048 ? ' (--msix-vectors; 2048 need about 197 guest vectors per vCPU, i.e. 12 vCPUs)' : ''}`;
  }
  if (/not supported/.test(reason)) return 'pci-epf-test in irqlab does not offer it (see its CAPS register)';
  return undefined;
}

export interface Tally {
  pass: number;
  fail: number;
  skip: number;
}

export function tally(cases: CaseResult[]): Tally {
  const t = { pass: 0, fail: 0, skip: 0 };
  for (const c of cases) t[c.outcome]++;
  return t;
}
