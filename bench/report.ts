// What `irqlab bench` reports: the metrics (one definition each, with its
// target from the issue), medians over rounds, ratios to the floor, verdicts,
// and the table for people. Targets are verdicts, never assertions.
import { table } from '../src/text/table.ts';

export type Better = 'lower' | 'higher';

export type Target =
  | { kind: 'max-ratio'; value: number; text: string }
  | { kind: 'min'; value: number; text: string }
  | { kind: 'max'; value: number; text: string }
  /** poll mode against the default mode of the same run (the row without _poll): at least / at most value times it. */
  | { kind: 'poll-min'; value: number; text: string }
  | { kind: 'poll-max'; value: number; text: string };

/** The id of the poll-mode twin of a row. */
export const POLL_SUFFIX = '_poll';

export type Section = 'socket' | 'irq' | 'guest';

export interface MetricDef {
  id: string;
  section: Section;
  label: string;
  unit: string;
  better: Better;
  target?: Target;
  /** What the floor column holds for this row, when not the C floor server. */
  floorIs?: string;
}

export const sectionTitles: Record<Section, string> = {
  socket: 'vfio-user over the socket (C client; floor = bench/c/floor.c, node floor = bench/node-floor.ts)',
  irq: 'interrupts from TypeScript, in one process (floor = C write(2) to an eventfd)',
  guest: 'from a Debian 6.12 guest under TCG, through QEMU 11.1 (irqlab column only; measured once)',
};

export const metricDefs: MetricDef[] = [
  // Pinned to one CPU: the software's round trip. Left to the scheduler, a VM
  // like this one adds a cross-CPU wake-up (tens of us) in some runs only.
  { id: 'rtt_us', section: 'socket', label: 'REGION_READ 4 B round trip, 1 in flight', unit: 'us', better: 'lower', target: { kind: 'max-ratio', value: 1.6, text: '<= 1.6x floor' } },
  { id: 'rtt_us_poll', section: 'socket', label: '  same, irqlab in poll mode', unit: 'us', better: 'lower', target: { kind: 'max-ratio', value: 1.2, text: '<= 1.2x floor' } },
  { id: 'rtt_polling_floors_us', section: 'socket', label: '  same, poll mode, against floors that poll too', unit: 'us', better: 'lower', floorIs: 'floor.c and node-floor.ts with --poll-us' },
  { id: 'rtt_p99_us', section: 'socket', label: '  same, p99', unit: 'us', better: 'lower' },
  { id: 'rtt_p99_us_poll', section: 'socket', label: '  same, p99, poll mode', unit: 'us', better: 'lower' },
  { id: 'rtt_unpinned_us', section: 'socket', label: '  same, placement left to the scheduler', unit: 'us', better: 'lower' },
  { id: 'rtt_unpinned_us_poll', section: 'socket', label: '  same, left to the scheduler, poll mode', unit: 'us', better: 'lower', target: { kind: 'poll-max', value: 0.5, text: '<= 0.5x default' } },
  { id: 'pipelined_us_per_op', section: 'socket', label: 'REGION_READ, 16 in flight, per op', unit: 'us', better: 'lower' },
  { id: 'pipelined_ops_per_s', section: 'socket', label: 'REGION_READ, 16 in flight', unit: '/s', better: 'higher' },
  { id: 'posted_writes_per_s', section: 'socket', label: 'posted REGION_WRITEs absorbed, 1 per write(2)', unit: '/s', better: 'higher', target: { kind: 'min', value: 100_000, text: '>= 100k/s' } },
  { id: 'batched_writes_per_s', section: 'socket', label: '  same, client sends 64 per write(2)', unit: '/s', better: 'higher', target: { kind: 'min', value: 100_000, text: '>= 100k/s' } },
  { id: 'multi_writes_per_s', section: 'socket', label: '  same, as REGION_WRITE_MULTI (200/msg)', unit: '/s', better: 'higher', target: { kind: 'min', value: 100_000, text: '>= 100k/s' } },
  { id: 'server_cpu_rtt_us', section: 'socket', label: 'server CPU per round trip (one CPU)', unit: 'us', better: 'lower' },
  { id: 'server_cpu_posted_us', section: 'socket', label: 'server CPU per posted write (1 per write(2))', unit: 'us', better: 'lower' },
  { id: 'server_cpu_multi_us', section: 'socket', label: 'server CPU per write in REGION_WRITE_MULTI', unit: 'us', better: 'lower' },
  { id: 'server_idle_cpu_pct', section: 'socket', label: 'server CPU while its client is idle after traffic', unit: '%', better: 'lower', target: { kind: 'max', value: 1, text: '<= 1%' }, floorIs: 'none' },
  { id: 'server_idle_cpu_pct_poll', section: 'socket', label: '  same, poll mode', unit: '%', better: 'lower', target: { kind: 'max', value: 1, text: '<= 1%' }, floorIs: 'none' },
  { id: 'msix_per_s', section: 'irq', label: 'MSI-X triggers, fireMsix() to eventfd seen', unit: '/s', better: 'higher', target: { kind: 'min', value: 500_000, text: '>= 500k/s' }, floorIs: 'C eventfd write loop' },
  { id: 'msix_probed_per_s', section: 'irq', label: '  same, BAR2 assigned: mask read by DMA first', unit: '/s', better: 'higher', target: { kind: 'min', value: 500_000, text: '>= 500k/s' }, floorIs: 'C eventfd write loop' },
  { id: 'msix_owned_per_s', section: 'irq', label: "  same, device's own table (no probe)", unit: '/s', better: 'higher', target: { kind: 'min', value: 500_000, text: '>= 500k/s' }, floorIs: 'C eventfd write loop' },
  { id: 'eventfd_raw_per_s', section: 'irq', label: '  reference: signalEventFd() alone', unit: '/s', better: 'higher', floorIs: 'C eventfd write loop' },
  { id: 'ims_per_s', section: 'irq', label: 'IMS DMA_WRITE interrupts, fireIms() to TS client', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_mmio_reads_per_s', section: 'guest', label: 'guest MMIO reads of BAR0 (each a round trip)', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_mmio_reads_per_s_poll', section: 'guest', label: '  same, server in poll mode', unit: '/s', better: 'higher', target: { kind: 'poll-min', value: 2, text: '>= 2x default' }, floorIs: 'none' },
  { id: 'guest_storm_issued_per_s', section: 'guest', label: 'guest posted doorbell writes issued', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_storm_absorbed_per_s', section: 'guest', label: '  absorbed by the server (REGION_WRITE_MULTI)', unit: '/s', better: 'higher', target: { kind: 'min', value: 100_000, text: '>= 100k/s' }, floorIs: 'none' },
  // The storm test checks the count; how soon the read after the storm comes back is measured here.
  { id: 'guest_storm_read_after_ms', section: 'guest', label: '  the read after the storm (QEMU gives up at 5 s)', unit: 'ms', better: 'lower', target: { kind: 'max', value: 4000, text: '<= 4 s' }, floorIs: 'none' },
  { id: 'guest_storm_nomulti_issued_per_s', section: 'guest', label: '  issued, one message per write', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_storm_nomulti_absorbed_per_s', section: 'guest', label: '  absorbed, one message per write', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_storm_nomulti_read_after_ms', section: 'guest', label: '  the read after it, one message per write', unit: 'ms', better: 'lower', target: { kind: 'max', value: 4000, text: '<= 4 s' }, floorIs: 'none' },
  { id: 'guest_ims_per_s', section: 'guest', label: 'IMS interrupts taken, doorbell to handler', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_ims_per_s_poll', section: 'guest', label: '  same, server in poll mode', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_msix_per_s', section: 'guest', label: 'MSI-X interrupts taken, doorbell to handler', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_msix_per_s_poll', section: 'guest', label: '  same, server in poll mode', unit: '/s', better: 'higher', floorIs: 'none' },
  { id: 'guest_order_round_us', section: 'guest', label: 'posted 16 KiB DMA write, then MSI-X (vIOMMU), per round', unit: 'us', better: 'lower', floorIs: 'none' },
  { id: 'guest_unordered_round_us', section: 'guest', label: '  same, ordering off (the handler may see old data)', unit: 'us', better: 'lower', floorIs: 'none' },
  { id: 'guest_order_held_us', section: 'guest', label: '  interrupt held for the writes before it', unit: 'us', better: 'lower', floorIs: 'none' },
  { id: 'guest_unordered_stale_pct', section: 'guest', label: '  rounds with old data seen, ordering off', unit: '%', better: 'lower', floorIs: 'none' },
];

/** One row of results.json: medians over the rounds, and each round's value. */
export interface MetricResult {
  id: string;
  section: Section;
  label: string;
  unit: string;
  better: Better;
  floor: number | null;
  /** bench/node-floor.ts: Node + koffi with no protocol logic (socket rows only). */
  nodeFloor: number | null;
  irqlab: number | null;
  floorRounds: (number | null)[];
  nodeFloorRounds: (number | null)[];
  irqlabRounds: (number | null)[];
  floorIs?: string;
  /** How many times slower irqlab is than the floor (1.00 = as fast). */
  ratio: number | null;
  /** The same against the node floor. */
  ratioToNodeFloor: number | null;
  /** A poll-mode row (id ending in _poll): its value over the default mode's of the same run (rates: > 1 is faster; times: < 1 is faster). */
  pollRatio?: number | null;
  target: Target | null;
  verdict: 'meets' | 'misses' | 'no target' | 'not measured';
}

export function median(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function slower(def: MetricDef, base: number | null, irqlab: number | null): number | null {
  if (base === null || irqlab === null || base <= 0 || irqlab <= 0) return null;
  return def.better === 'lower' ? irqlab / base : base / irqlab;
}

export function summarise(def: MetricDef, floorRounds: (number | null)[], nodeFloorRounds: (number | null)[], irqlabRounds: (number | null)[]): MetricResult {
  const floor = median(floorRounds);
  const nodeFloor = median(nodeFloorRounds);
  const irqlab = median(irqlabRounds);
  const ratio = slower(def, floor, irqlab);
  let verdict: MetricResult['verdict'] = 'no target';
  if (irqlab === null) verdict = 'not measured';
  else if (def.target?.kind === 'max-ratio') verdict = ratio !== null && ratio <= def.target.value ? 'meets' : 'misses';
  else if (def.target?.kind === 'min') verdict = irqlab >= def.target.value ? 'meets' : 'misses';
  else if (def.target?.kind === 'max') verdict = irqlab <= def.target.value ? 'meets' : 'misses';
  return {
    id: def.id, section: def.section, label: def.label, unit: def.unit, better: def.better,
    floor, nodeFloor, irqlab, floorRounds, nodeFloorRounds, irqlabRounds, floorIs: def.floorIs,
    ratio, ratioToNodeFloor: slower(def, nodeFloor, irqlab), target: def.target ?? null, verdict,
  };
}

/**
 * Each _poll row against its default-mode row of the same run: the ratio,
 * and the verdict of a target stated against the default mode.
 */
export function comparePollRows(metrics: MetricResult[]): MetricResult[] {
  const byId = new Map(metrics.map((m) => [m.id, m]));
  return metrics.map((m) => {
    if (!m.id.endsWith(POLL_SUFFIX)) return m;
    const base = byId.get(m.id.slice(0, -POLL_SUFFIX.length));
    const pollRatio = base?.irqlab && m.irqlab !== null ? m.irqlab / base.irqlab : null;
    let verdict = m.verdict;
    if (m.target?.kind === 'poll-min' || m.target?.kind === 'poll-max') {
      verdict = pollRatio === null ? 'not measured' : (m.target.kind === 'poll-min' ? pollRatio >= m.target.value : pollRatio <= m.target.value) ? 'meets' : 'misses';
    }
    return { ...m, pollRatio, verdict };
  });
}

function fmt(v: number | null, unit: string): string {
  if (v === null) return '-';
  if (unit === '%') return `${v.toFixed(2)} %`;
  if (unit === 'us') return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} us`;
  if (unit === '%') return `${v.toFixed(1)} %`;
  if (unit === 'ms') return `${v.toFixed(0)} ms`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M/s`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e5 ? 0 : 1)}k/s`;
  return `${v.toFixed(0)}/s`;
}

/** The table for people: a section per kind of measurement. */
export function renderTable(metrics: MetricResult[]): string {
  const rows: string[][] = [];
  const titles = new Map<number, string>();
  for (const section of Object.keys(sectionTitles) as Section[]) {
    titles.set(rows.length, `-- ${sectionTitles[section]}`);
    for (const m of metrics.filter((x) => x.section === section)) {
      const floor = m.floorIs === 'none' ? 'n/a' : fmt(m.floor, m.unit);
      rows.push([
        m.label, floor, fmt(m.nodeFloor, m.unit), fmt(m.irqlab, m.unit), m.ratio === null ? '-' : `${m.ratio.toFixed(2)}x`,
        m.pollRatio === undefined || m.pollRatio === null ? '' : `${m.pollRatio.toFixed(2)}x`,
        m.target?.text ?? '-', m.verdict === 'no target' ? '-' : m.verdict.toUpperCase(),
      ]);
    }
  }
  const lines = table(['metric (median of rounds)', 'floor', 'node floor', 'irqlab', 'ratio', 'poll/default', 'target', 'verdict'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'l']).split('\n');
  // Section titles go between rows, outside the columns (they are wider than a cell).
  const out = lines.slice(0, 2);
  lines.slice(2).forEach((line, i) => {
    const title = titles.get(i);
    if (title) out.push(title);
    out.push(line);
  });
  return out.join('\n');
}
