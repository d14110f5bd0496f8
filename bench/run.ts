// `irqlab bench`: irqlab against the floor.
//
// Builds the C floor server and load client, starts the floor, the node
// floor (the same responder in Node on irqlab's ffi layer), `irqlab serve`
// and `irqlab serve --poll-us N` each in its own process (and both floors
// polling too, for the pinned round trip of poll mode), and runs the same
// client against them, interleaved: each round runs every load against the
// servers back to back (poll mode: the round trips), rotating which goes
// first, measures what each irqlab server spends while its client idles,
// then measures the interrupt paths from TypeScript in a fresh process.
// Medians over the rounds go to a table for people and to
// bench/out/results.json for machines.
//
//   node --import tsx bench/run.ts [--rounds N] [--quick] [--poll-us N]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPrograms, gccVersion, OUT_DIR, REPO_DIR, type Programs } from './build.ts';
import { startServer, runJson, cpuTimeNs, loadNow, pinThread, leastBusyCpu, type ServerProcess } from './processes.ts';
import { metricDefs, summarise, renderTable, comparePollRows, POLL_SUFFIX, type MetricResult } from './report.ts';
import type { IrqBenchResult } from './irq.ts';
import { runGuestBench, type GuestBenchResult } from './guest.ts';
import { VfioUserClient } from '../src/client/index.ts';
import { Region } from '../src/protocol/index.ts';
import { checkPollUs } from '../src/transport/poll-mode.ts';

const PCI_COMMAND = 0x04;
const PCI_COMMAND_MEMORY = 0x2;

export interface BenchOptions {
  rounds?: number;
  quick?: boolean;
  /** Progress lines for people (stderr by default). */
  progress?: (line: string) => void;
  /** Where results.json goes (default bench/out/results.json). */
  outFile?: string;
  /** Skip the guest rows (no boot). */
  noGuest?: boolean;
  /** The poll window of the poll-mode rows (default BENCH_POLL_US). */
  pollUs?: number;
}

/** The poll window the poll-mode rows use unless told otherwise, us (README, Benchmarks: how it was chosen). */
export const BENCH_POLL_US = 100;
/** How long each irqlab server's CPU time is watched while its client idles, ms. */
const IDLE_MS = 2000;

export interface Sizes {
  rtt: number;
  pipelined: number;
  depth: number;
  posted: number;
  multi: number;
  /** Client-side warm-up operations per run (JIT of the server is warmed once, before round 1). */
  warmup: number;
  eventfd: number;
  msix: number;
  /** MSI-X fires with the mask probe by DMA_READ (a round trip each). */
  msixProbed: number;
  eventfdRaw: number;
  ims: number;
}

export const fullSizes: Sizes = { rtt: 20000, pipelined: 100000, depth: 16, posted: 200000, multi: 400000, warmup: 1000, eventfd: 2000000, msix: 300000, msixProbed: 20000, eventfdRaw: 500000, ims: 30000 };
export const quickSizes: Sizes = { rtt: 3000, pipelined: 20000, depth: 16, posted: 30000, multi: 60000, warmup: 300, eventfd: 300000, msix: 50000, msixProbed: 3000, eventfdRaw: 100000, ims: 5000 };

type ServerName = 'floor' | 'nodeFloor' | 'irqlab' | 'irqlabPoll' | 'floorPoll' | 'nodeFloorPoll';
/** The four every load runs against (and the progress line shows). */
const MAIN: ServerName[] = ['floor', 'nodeFloor', 'irqlab', 'irqlabPoll'];
/** The floors polling as poll mode does (--poll-us): what a polling server costs in C and in Node. */
const POLLING_FLOORS: ServerName[] = ['floorPoll', 'nodeFloorPoll'];
const SERVERS: ServerName[] = [...MAIN, ...POLLING_FLOORS];
type Mode = 'rtt' | 'rttSameCpu' | 'pipelined' | 'posted' | 'batched' | 'multi';
const MODES: Mode[] = ['rtt', 'rttSameCpu', 'pipelined', 'posted', 'batched', 'multi'];
/** What the poll-mode server is measured on: poll mode is about latency, not throughput. */
const POLL_MODES: Mode[] = ['rtt', 'rttSameCpu'];
const measures = (name: ServerName, mode: Mode) =>
  POLLING_FLOORS.includes(name) ? mode === 'rttSameCpu' : name !== 'irqlabPoll' || POLL_MODES.includes(mode);
/** Posted writes per write(2) in the server-bound variant. */
const BATCH = 64;

interface LatencyUs { median: number; p99: number; mean: number; min: number; max: number }
/** What bench/c/client.c prints. */
export interface ClientResult {
  mode: string;
  n: number;
  total_s: number;
  ops_per_s?: number;
  us_per_op?: number;
  lat_us?: LatencyUs;
  writes_per_s?: number;
  verified?: boolean | null;
  signals_per_s?: number;
}

interface Measured {
  result: ClientResult | null;
  /** Server CPU time over the run (all threads), per operation, us. */
  serverCpuUsPerOp: number | null;
  error?: string;
}

export interface RoundRecord {
  round: number;
  order: ServerName[];
  load: { before: number; after: number; runningBefore: number };
  socket: Record<ServerName, Partial<Record<Mode, Measured>>>;
  /** CPU the irqlab servers used while a connected client idled after traffic, % of one CPU. */
  idleCpuPct: { irqlab: number | null; irqlabPoll: number | null };
  eventfdC: ClientResult | null;
  irq: IrqBenchResult | null;
  errors: string[];
}

export interface BenchResults {
  schema: 'irqlab-bench/1';
  startedAt: string;
  finishedAt: string;
  seconds: number;
  host: { cpus: number; cpuModel: string; kernel: string; node: string; gcc: string; loadBefore: number; loadAfter: number; load1PerRound: number[] };
  /** Per round: the CPU of the same-CPU round trip (null: not pinned). */
  options: { rounds: number; quick: boolean; pollUs: number; sizes: Sizes; sameCpuPerRound: (number | null)[] };
  metrics: MetricResult[];
  rounds: RoundRecord[];
  guest?: GuestBenchResult | null;
  errors: string[];
  notes: string[];
}

const NOTES = [
  'ratio: how many times slower irqlab is than the floor (1.00x = as fast); for rates floor/irqlab, for times irqlab/floor',
  'node floor: the C floor redone in Node on irqlab\'s ffi layer (koffi + libuv), no protocol logic: the gap from it to irqlab is irqlab\'s own code (ratioToNodeFloor)',
  'the machine is shared: see host.load1PerRound; medians over interleaved rounds damp, not remove, the noise',
  'round trip: the client and the server main thread pinned to the least busy CPU of the round (options.sameCpuPerRound); "left to the scheduler": unpinned, which on a VM without halt polling swings from run to run between one CPU and a cross-CPU wake-up of tens of us',
  'server CPU: schedstat run time of all the server process threads over the client run, divided by the operations sent',
  'IMS: server and TS client share one Node thread, so the rate is the cost of both ends',
  'guest rows: one 6.12 guest (TCG), after the socket rounds; reads and interrupts in the default mode and in poll mode interleaved in that guest (the window switched live), medians; interrupts taken: the guest rings a doorbell and waits for the interrupt its completion raises, one after the other (back-to-back interrupts on a pending vector would merge in the APIC)',
  'poll mode (rows ending in _poll): irqlab serve --poll-us N (options.pollUs) in the same rounds; pollRatio = its median over the default mode\'s (rates: above 1 is faster; times: below 1 is faster)',
  'polling floors: bench/c/floor.c and bench/node-floor.ts with --poll-us N, trying the socket between sched_yield calls as poll mode does (the Node one without an event-loop turn between messages): the least a polling server costs in C and in Node, pinned to one CPU',
  'idle CPU: a client connects, makes 2000 round trips, then stays connected and silent; the server\'s CPU time over the next 2 s, in % of one CPU',
  'ordering rows: a 6.12 guest with a vIOMMU and the example DMA engine (examples/dma-copy-device.ts, its driver\'s "order" rounds); medians of alternated runs with ordering on and off; "held": from the raise to the eventfd signal, for interrupts that had posted writes to wait for',
];

function clientArgs(s: Sizes, mode: Mode): string[] {
  switch (mode) {
    case 'rtt':
    case 'rttSameCpu': return ['rtt', String(s.rtt)];
    case 'pipelined': return ['pipelined', String(s.pipelined), String(s.depth)];
    case 'posted': return ['posted', String(s.posted)];
    case 'batched': return ['--batch', String(BATCH), 'posted', String(s.posted)];
    case 'multi': return ['multi', String(s.multi)];
  }
}

/**
 * CPU time an irqlab server spends while its client stays connected and
 * silent after traffic, % of one CPU: poll mode must stop spinning.
 */
async function idleCpuPct(server: ServerProcess): Promise<number> {
  const c = await VfioUserClient.connect(server.socket);
  try {
    await c.write16(Region.CONFIG, PCI_COMMAND, PCI_COMMAND_MEMORY);
    for (let i = 0; i < 2000; i++) await c.read32(Region.BAR0, 0);
    const cpu0 = cpuTimeNs(server.pid);
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return (100 * (cpuTimeNs(server.pid) - cpu0)) / Number(process.hrtime.bigint() - t0);
  } finally {
    c.close();
  }
}

function opsOf(s: Sizes, mode: Mode): number {
  return (mode === 'batched' ? s.posted : mode === 'rttSameCpu' ? s.rtt : s[mode]) + s.warmup;
}

/**
 * Where the processes run for the same-CPU round trip: the server's main
 * thread and the client pinned to one CPU, the least busy one when the round
 * starts. Every other load is left to the scheduler. (On this kind of VM an
 * unpinned round trip swings from run to run between "both on one CPU" and
 * "a wake-up across CPUs", which is most of its noise; pinned to a CPU that
 * other work keeps busy, it is worse.)
 */
export interface Placement {
  cpu: number;
  allCpus: string;
}

async function measure(programs: Programs, server: ServerProcess, s: Sizes, mode: Mode, verify: boolean, placement: Placement | null): Promise<Measured> {
  const cpu0 = cpuTimeNs(server.pid);
  try {
    const args = ['--socket', server.socket, '--warmup', String(s.warmup), ...(verify ? ['--verify'] : []), ...clientArgs(s, mode)];
    let result: ClientResult;
    if (mode === 'rttSameCpu' && placement) {
      pinThread(server.pid, String(placement.cpu));
      try {
        result = await runJson<ClientResult>('taskset', ['-c', String(placement.cpu), programs.client, ...args], { timeoutMs: 60000 });
      } finally {
        pinThread(server.pid, placement.allCpus);
      }
    } else {
      result = await runJson<ClientResult>(programs.client, args, { timeoutMs: 60000 });
    }
    return { result, serverCpuUsPerOp: (cpuTimeNs(server.pid) - cpu0) / 1e3 / opsOf(s, mode) };
  } catch (err) {
    return { result: null, serverCpuUsPerOp: null, error: `${server.name} ${mode}: ${(err as Error).message}` };
  }
}

function irqArgs(s: Sizes): string[] {
  return ['--import', 'tsx', join(REPO_DIR, 'bench', 'irq.ts'), '--msix', String(s.msix), '--probed', String(s.msixProbed), '--raw', String(s.eventfdRaw), '--ims', String(s.ims)];
}

const us = (v: number | undefined | null) => (v === undefined || v === null ? '-' : `${v.toFixed(1)} us`);
const k = (v: number | undefined | null) => (v === undefined || v === null ? '-' : `${(v / 1e3).toFixed(0)}k/s`);

export async function runBench(opts: BenchOptions = {}): Promise<{ results: BenchResults; table: string }> {
  const quick = opts.quick === true;
  const rounds = opts.rounds ?? (quick ? 3 : 5);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`--rounds wants 1..50, got ${rounds}`);
  const s = quick ? quickSizes : fullSizes;
  const pollUs = checkPollUs(opts.pollUs ?? BENCH_POLL_US, '--poll-us');
  if (pollUs === 0) throw new Error('--poll-us 0 would measure the default mode twice: give a window of 1 us or more');
  const say = opts.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = new Date();
  const t0 = Date.now();
  const loadBefore = loadNow().load1;

  say('[bench] building bench/c (gcc -O2 -Wall -Wextra)');
  const programs = buildPrograms();
  if (programs.rebuilt.length) say(`[bench]   compiled ${programs.rebuilt.join(', ')}`);
  if (programs.warnings.trim()) say(`[bench]   gcc warnings:\n${programs.warnings.trim()}`);

  const dir = mkdtempSync(join(tmpdir(), 'irqlab-bench-'));
  const servers: Partial<Record<ServerName, ServerProcess>> = {};
  const records: RoundRecord[] = [];
  const errors: string[] = [];
  let canPin = false;
  let placement: Placement | null = null;
  const placements: (Placement | null)[] = [];
  try {
    say(`[bench] starting the floor (C), the node floor (bench/node-floor.ts), both again with --poll-us ${pollUs}, irqlab serve and irqlab serve --poll-us ${pollUs}`);
    const floor = (name: string, sock: string, args: string[] = []) => startServer(name, programs.floor, ['--socket', join(dir, sock), ...args], join(dir, sock));
    const nodeFloor = (name: string, sock: string, args: string[] = []) =>
      startServer(name, process.execPath, ['--import', 'tsx', join(REPO_DIR, 'bench', 'node-floor.ts'), '--socket', join(dir, sock), ...args], join(dir, sock), { cwd: REPO_DIR });
    servers.floor = await floor('floor', 'floor.sock');
    servers.nodeFloor = await nodeFloor('node floor', 'node-floor.sock');
    servers.floorPoll = await floor('floor, polling', 'floor-poll.sock', ['--poll-us', String(pollUs)]);
    servers.nodeFloorPoll = await nodeFloor('node floor, polling', 'node-floor-poll.sock', ['--poll-us', String(pollUs)]);
    // --poll-us 0 said explicitly: $IRQLAB_POLL_US must not turn the default server into a polling one.
    servers.irqlab = await startServer('irqlab', process.execPath, [join(REPO_DIR, 'src', 'cli', 'bin.mjs'), 'serve', '--socket', join(dir, 'irqlab.sock'), '--quiet', '--poll-us', '0'], join(dir, 'irqlab.sock'), { cwd: REPO_DIR });
    servers.irqlabPoll = await startServer('irqlab poll mode', process.execPath, [join(REPO_DIR, 'src', 'cli', 'bin.mjs'), 'serve', '--socket', join(dir, 'irqlab-poll.sock'), '--quiet', '--poll-us', String(pollUs)], join(dir, 'irqlab-poll.sock'), { cwd: REPO_DIR });
    const allCpus = `0-${cpus().length - 1}`;
    canPin = SERVERS.every((n) => pinThread(servers[n]!.pid, allCpus));
    if (!canPin) say('[bench] taskset does not work here: the same-CPU round trip is left to the scheduler');

    say('[bench] warm-up (not recorded): every load against every server');
    for (const mode of MODES) {
      for (const name of SERVERS.filter((n) => measures(n, mode))) {
        const m = await measure(programs, servers[name]!, quickSizes, mode, name.startsWith('irqlab'), placement);
        if (m.error) throw new Error(`warm-up failed: ${m.error}`);
      }
    }

    for (let r = 0; r < rounds; r++) {
      // Who goes first rotates from round to round, and alternates direction.
      const rotated = [...SERVERS.slice(r % SERVERS.length), ...SERVERS.slice(0, r % SERVERS.length)];
      const order = r % 2 === 0 ? rotated : rotated.reverse();
      placement = canPin ? { cpu: await leastBusyCpu(), allCpus: `0-${cpus().length - 1}` } : null;
      placements.push(placement);
      const before = loadNow();
      const rec: RoundRecord = {
        round: r + 1, order, load: { before: before.load1, after: 0, runningBefore: before.running },
        socket: { floor: {}, nodeFloor: {}, irqlab: {}, irqlabPoll: {}, floorPoll: {}, nodeFloorPoll: {} }, idleCpuPct: { irqlab: null, irqlabPoll: null }, eventfdC: null, irq: null, errors: [],
      };
      for (const mode of MODES) {
        for (const name of order.filter((n) => measures(n, mode))) {
          const m = await measure(programs, servers[name]!, s, mode, name.startsWith('irqlab'), placement);
          rec.socket[name][mode] = m;
          if (m.error) rec.errors.push(m.error);
        }
      }
      const idle = await Promise.allSettled([idleCpuPct(servers.irqlab!), idleCpuPct(servers.irqlabPoll!)]);
      idle.forEach((o, i) => {
        const name = i ? 'irqlabPoll' : 'irqlab';
        if (o.status === 'fulfilled') rec.idleCpuPct[name] = o.value;
        else rec.errors.push(`${name} idle CPU: ${(o.reason as Error).message}`);
      });
      try {
        rec.eventfdC = await runJson<ClientResult>(programs.client, ['eventfd', String(s.eventfd)]);
      } catch (err) {
        rec.errors.push(`eventfd floor: ${(err as Error).message}`);
      }
      try {
        rec.irq = await runJson<IrqBenchResult>(process.execPath, irqArgs(s), { cwd: REPO_DIR, timeoutMs: 120000 });
      } catch (err) {
        rec.errors.push(`interrupts from TypeScript: ${(err as Error).message}`);
      }
      rec.load.after = loadNow().load1;
      records.push(rec);
      errors.push(...rec.errors.map((e) => `round ${r + 1}: ${e}`));
      const col = (mode: Mode, fn: (c: ClientResult) => number | undefined, f: (v: number | undefined) => string) =>
        MAIN.map((n) => f(rec.socket[n][mode]?.result ? fn(rec.socket[n][mode]!.result!) : undefined)).join(' / ');
      const polling = POLLING_FLOORS.map((n) => us(rec.socket[n].rttSameCpu?.result?.lat_us?.median)).join(' / ');
      say(`[bench] round ${r + 1}/${rounds} (load ${rec.load.before.toFixed(2)}; C floor / node floor / irqlab / irqlab poll mode): rtt on CPU ${placement?.cpu ?? '?'} ${col('rttSameCpu', (c) => c.lat_us?.median, us)}` +
        ` (unpinned ${col('rtt', (c) => c.lat_us?.median, us)}; polling floors ${polling})` +
        `; posted ${col('posted', (c) => c.writes_per_s, k)}` +
        `; multi ${col('multi', (c) => c.writes_per_s, k)}` +
        `; idle CPU ${rec.idleCpuPct.irqlab?.toFixed(2) ?? '-'} % / ${rec.idleCpuPct.irqlabPoll?.toFixed(2) ?? '-'} % (poll)` +
        `; fireMsix ${k(rec.irq?.msix.perSecond)} (probed ${k(rec.irq?.msixProbed.perSecond)}, own table ${k(rec.irq?.msixTableOwned.perSecond)}), IMS ${k(rec.irq?.ims.perSecond)}` +
        (rec.errors.length ? ` (${rec.errors.length} error(s))` : ''));
    }
  } finally {
    await Promise.all(Object.values(servers).map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  }

  let guest: GuestBenchResult | null = null;
  if (!opts.noGuest) {
    try {
      guest = await runGuestBench({ quick, pollUs, progress: say });
    } catch (err) {
      errors.push(`guest: ${(err as Error).message}`);
    }
  }
  const metrics = collect(records, guest);
  const results: BenchResults = {
    schema: 'irqlab-bench/1',
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    seconds: (Date.now() - t0) / 1e3,
    host: {
      cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version, gcc: gccVersion(),
      loadBefore, loadAfter: loadNow().load1, load1PerRound: records.map((r) => r.load.before),
    },
    options: { rounds, quick, pollUs, sizes: s, sameCpuPerRound: placements.map((p) => p?.cpu ?? null) },
    metrics,
    rounds: records,
    guest,
    errors,
    notes: NOTES,
  };
  const outFile = opts.outFile ?? join(OUT_DIR, 'results.json');
  mkdirSync(join(outFile, '..'), { recursive: true });
  writeFileSync(outFile, JSON.stringify(results, null, 2) + '\n');
  return { results, table: renderTable(metrics) };
}

type Side = 'floor' | 'nodeFloor' | 'irqlab';

/** Per-metric values of every round for each column, then medians; poll rows compared with their default rows. */
function collect(records: RoundRecord[], guest: GuestBenchResult | null): MetricResult[] {
  const pick = (fn: (r: RoundRecord, side: ServerName) => number | null | undefined) => (side: Side) => records.map((r) => fn(r, side) ?? null);
  const sock = (mode: Mode, fn: (c: ClientResult) => number | undefined, irqlabIs: ServerName = 'irqlab') => pick((r, side) => {
    const res = r.socket[side === 'irqlab' ? irqlabIs : side][mode]?.result;
    return res ? fn(res) : null;
  });
  const values: Record<string, (side: Side) => (number | null)[]> = {
    rtt_us: sock('rttSameCpu', (c) => c.lat_us?.median),
    rtt_us_poll: sock('rttSameCpu', (c) => c.lat_us?.median, 'irqlabPoll'),
    rtt_p99_us: sock('rttSameCpu', (c) => c.lat_us?.p99),
    rtt_p99_us_poll: sock('rttSameCpu', (c) => c.lat_us?.p99, 'irqlabPoll'),
    rtt_polling_floors_us: pick((r, side) => r.socket[side === 'irqlab' ? 'irqlabPoll' : side === 'floor' ? 'floorPoll' : 'nodeFloorPoll'].rttSameCpu?.result?.lat_us?.median),
    rtt_unpinned_us: sock('rtt', (c) => c.lat_us?.median),
    rtt_unpinned_us_poll: sock('rtt', (c) => c.lat_us?.median, 'irqlabPoll'),
    pipelined_us_per_op: sock('pipelined', (c) => c.us_per_op),
    pipelined_ops_per_s: sock('pipelined', (c) => c.ops_per_s),
    posted_writes_per_s: sock('posted', (c) => c.writes_per_s),
    batched_writes_per_s: sock('batched', (c) => c.writes_per_s),
    multi_writes_per_s: sock('multi', (c) => c.writes_per_s),
    server_cpu_rtt_us: pick((r, side) => r.socket[side].rttSameCpu?.serverCpuUsPerOp),
    server_cpu_posted_us: pick((r, side) => r.socket[side].posted?.serverCpuUsPerOp),
    server_cpu_multi_us: pick((r, side) => r.socket[side].multi?.serverCpuUsPerOp),
    server_idle_cpu_pct: pick((r, side) => (side === 'irqlab' ? r.idleCpuPct.irqlab : null)),
    server_idle_cpu_pct_poll: pick((r, side) => (side === 'irqlab' ? r.idleCpuPct.irqlabPoll : null)),
    msix_per_s: pick((r, side) => (side === 'floor' ? r.eventfdC?.signals_per_s : side === 'irqlab' ? r.irq?.msix.perSecond : null)),
    msix_probed_per_s: pick((r, side) => (side === 'floor' ? r.eventfdC?.signals_per_s : side === 'irqlab' ? r.irq?.msixProbed.perSecond : null)),
    msix_owned_per_s: pick((r, side) => (side === 'floor' ? r.eventfdC?.signals_per_s : side === 'irqlab' ? r.irq?.msixTableOwned.perSecond : null)),
    eventfd_raw_per_s: pick((r, side) => (side === 'floor' ? r.eventfdC?.signals_per_s : side === 'irqlab' ? r.irq?.eventfdRaw.perSecond : null)),
    ims_per_s: pick((r, side) => (side === 'irqlab' ? r.irq?.ims.perSecond : null)),
  };
  // Guest rows: each round of each mode (the median is taken the same way as for the socket rows).
  const guestRounds = (poll: boolean, fn: (g: GuestBenchResult['rounds'][number]) => number) => (side: Side) =>
    side === 'irqlab' ? (guest?.rounds ?? []).filter((g) => (g.pollUs !== 0) === poll).map(fn) : [null];
  const once = (v: number | undefined) => (side: Side) => [side === 'irqlab' && v !== undefined ? v : null];
  Object.assign(values, {
    guest_mmio_reads_per_s: guestRounds(false, (g) => g.mmioReadsPerSecond),
    guest_mmio_reads_per_s_poll: guestRounds(true, (g) => g.mmioReadsPerSecond),
    guest_storm_issued_per_s: once(guest?.storm.issuedPerSecond),
    guest_storm_absorbed_per_s: once(guest?.storm.absorbedPerSecond),
    guest_storm_read_after_ms: once(guest?.storm.readAfterMs),
    guest_storm_nomulti_issued_per_s: once(guest?.stormNoMulti?.issuedPerSecond),
    guest_storm_nomulti_read_after_ms: once(guest?.stormNoMulti?.readAfterMs),
    guest_storm_nomulti_absorbed_per_s: once(guest?.stormNoMulti?.absorbedPerSecond),
    guest_ims_per_s: guestRounds(false, (g) => g.ims.perSecond),
    guest_ims_per_s_poll: guestRounds(true, (g) => g.ims.perSecond),
    guest_msix_per_s: guestRounds(false, (g) => g.msix.perSecond),
    guest_msix_per_s_poll: guestRounds(true, (g) => g.msix.perSecond),
    guest_order_round_us: once(guest?.ordering?.orderedUsPerRound),
    guest_unordered_round_us: once(guest?.ordering?.unorderedUsPerRound),
    guest_order_held_us: once(guest?.ordering?.heldUsPerInterrupt),
    guest_unordered_stale_pct: once(guest?.ordering ? (100 * guest.ordering.unorderedStaleRounds) / guest.ordering.unorderedRounds : undefined),
  });
  for (const def of metricDefs) {
    if (def.id.endsWith(POLL_SUFFIX) && !metricDefs.some((d) => d.id === def.id.slice(0, -POLL_SUFFIX.length))) throw new Error(`${def.id} has no default-mode row`);
  }
  return comparePollRows(metricDefs.map((def) => {
    const v = values[def.id];
    return v ? summarise(def, v('floor'), v('nodeFloor'), v('irqlab')) : summarise(def, [], [], []);
  }));
}

/** The header line over the table: what was run, and how loaded the machine was. */
export function describeRun(r: BenchResults): string {
  const loads = r.host.load1PerRound;
  return `irqlab bench: ${r.options.rounds} round(s)${r.options.quick ? ' (quick)' : ''}, C floor, node floor, irqlab and irqlab in poll mode (${r.options.pollUs} us), and both floors polling, interleaved, medians; ` +
    `${r.host.cpus} CPUs, load ${Math.min(...loads, r.host.loadBefore).toFixed(2)}..${Math.max(...loads, r.host.loadAfter).toFixed(2)} (1-min avg); ${r.seconds.toFixed(0)} s`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, quick: { type: 'boolean' }, 'no-guest': { type: 'boolean' }, 'poll-us': { type: 'string' } } });
  const { results, table } = await runBench({
    rounds: values.rounds ? Number(values.rounds) : undefined, quick: values.quick, noGuest: values['no-guest'],
    pollUs: values['poll-us'] === undefined ? undefined : checkPollUs(values['poll-us'], '--poll-us'),
  });
  process.stdout.write(`${describeRun(results)}\n\n${table}\n`);
  if (results.errors.length) process.stdout.write(`\nerrors:\n${results.errors.map((e) => `  ${e}`).join('\n')}\n`);
  process.stdout.write(`\nresults: ${join(OUT_DIR, 'results.json')}\n`);
  process.exitCode = results.errors.length ? 1 : 0;
}

