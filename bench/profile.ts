// Where irqlab's time goes: `irqlab serve` under `node --cpu-prof` (through
// tsx, as it runs), driven by the C client with one load, then the profile
// summarised: self and total time by function, mapped back to file:line of
// the TypeScript sources, and by area (ffi, transport, protocol, ...).
//
//   node --import tsx bench/profile.ts [--load rtt|pipelined|posted|batched|multi]... [--n N] [--top K]
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPrograms, OUT_DIR, REPO_DIR } from './build.ts';
import { startServer, runJson, loadNow } from './processes.ts';
import { SourceMap } from './sourcemap.ts';
import { table } from '../src/text/table.ts';

export type Load = 'rtt' | 'pipelined' | 'posted' | 'batched' | 'multi';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  function: string;
  /** file:line in the repository (TypeScript), or the runtime's own location. */
  where: string;
  area: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
  /** The caller that most of the self time came through. */
  calledFrom: string;
}

export interface ProfileSummary {
  load: Load;
  ops: number;
  profile: string;
  wallMs: number;
  idleMs: number;
  busyMs: number;
  gcMs: number;
  busyUsPerOp: number;
  /** Only the timed part of the client's run was counted (else the whole profile). */
  windowed: boolean;
  byArea: { area: string; selfMs: number; pctOfBusy: number }[];
  top: HotSpot[];
  load1: number;
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Folder name of the generated code of a .ts URL (as bench/profile-hook.mjs writes it). */
function generatedPath(folder: string, url: string): string {
  return join(folder, fileURLToPath(url).replace(/[^A-Za-z0-9._-]/g, '_') + '.js');
}

/** Maps profile positions (in tsx's generated code) to repository file:line. */
class Locator {
  private readonly maps = new Map<string, SourceMap | undefined>();

  constructor(private readonly sourcesDir: string) {}

  where(f: CallFrame): string {
    if (!f.url) return '(native)';
    if (!f.url.startsWith('file:')) return `${f.url}:${f.lineNumber + 1}`;
    const file = fileURLToPath(f.url);
    const rel = relative(REPO_DIR, file).startsWith('..') ? file : relative(REPO_DIR, file);
    if (!/\.[cm]?ts$/.test(file)) return `${rel}:${f.lineNumber + 1}`;
    const map = this.mapFor(f.url);
    const pos = map?.originalFor(f.lineNumber, f.columnNumber);
    if (pos) return `${rel}:${pos.line}`;
    // esbuild's keepNames helper, which tsx puts at the top of every module.
    return f.functionName === '__name' ? `${rel} (keepNames helper)` : `${rel}:?`;
  }

  private mapFor(url: string): SourceMap | undefined {
    if (!this.maps.has(url)) {
      let map: SourceMap | undefined;
      try {
        map = SourceMap.fromInline(readFileSync(generatedPath(this.sourcesDir, url), 'utf8'));
      } catch {
        map = undefined;
      }
      this.maps.set(url, map);
    }
    return this.maps.get(url);
  }
}

function areaOf(f: CallFrame): string {
  if (SPECIAL.has(f.functionName)) return f.functionName;
  if (!f.url) return 'native (koffi calls, V8 builtins)';
  if (f.url.startsWith('node:')) return 'node internals';
  if (!f.url.startsWith('file:')) return 'other';
  const rel = relative(REPO_DIR, fileURLToPath(f.url));
  if (rel.startsWith('node_modules')) return `node_modules/${rel.split('/')[1]}`;
  const parts = rel.split('/');
  return parts[0] === 'src' ? `src/${parts[1]}` : parts[0];
}

/**
 * Self and total time per function, from the samples (each sample lasts until
 * the next). With a window (CLOCK_MONOTONIC ns, the clock of V8's profiler),
 * only samples inside it count: start-up and warm-up stay out.
 */
export function summariseProfile(file: string, sourcesDir: string, load: Load, ops: number, window?: [number, number], top = 20): Omit<ProfileSummary, 'load1'> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const loc = new Locator(sourcesDir);
  const keyOf = (f: CallFrame) => `${f.functionName}|${f.url}|${f.lineNumber}|${f.columnNumber}`;

  const self = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  const total = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  const ancestry = new Map<number, string[]>();
  const keysUp = (id: number): string[] => {
    let keys = ancestry.get(id);
    if (!keys) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) seen.add(keyOf(byId.get(at)!.callFrame));
      keys = [...seen];
      ancestry.set(id, keys);
    }
    return keys;
  };

  let t = p.startTime;
  const stamps = p.timeDeltas.map((d) => (t += d));
  const from = window ? window[0] / 1e3 : -Infinity;
  const to = window ? window[1] / 1e3 : Infinity;
  const windowed = window !== undefined && from >= p.startTime && to <= p.endTime;
  let wall = 0;
  for (let i = 0; i < p.samples.length; i++) {
    if (windowed && (stamps[i] < from || stamps[i] > to)) continue;
    const dt = (i + 1 < stamps.length ? stamps[i + 1] : p.endTime) - stamps[i];
    if (dt <= 0) continue;
    wall += dt;
    const node = byId.get(p.samples[i])!;
    const k = keyOf(node.callFrame);
    frames.set(k, node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    for (const a of keysUp(node.id)) total.set(a, (total.get(a) ?? 0) + dt);
    const up = parent.get(node.id);
    if (up !== undefined) {
      const ck = keyOf(byId.get(up)!.callFrame);
      const m = callers.get(k) ?? new Map<string, number>();
      m.set(ck, (m.get(ck) ?? 0) + dt);
      callers.set(k, m);
    }
  }
  for (const n of p.nodes) frames.set(keyOf(n.callFrame), n.callFrame);

  const sumWhere = (pred: (f: CallFrame) => boolean) => [...self].filter(([k]) => pred(frames.get(k)!)).reduce((s, [, v]) => s + v, 0);
  const idle = sumWhere((f) => f.functionName === '(idle)');
  const gc = sumWhere((f) => f.functionName === '(garbage collector)');
  const busy = wall - idle;

  const areas = new Map<string, number>();
  for (const [k, v] of self) {
    const f = frames.get(k)!;
    if (f.functionName === '(idle)') continue;
    const a = areaOf(f);
    areas.set(a, (areas.get(a) ?? 0) + v);
  }
  const hot = [...self]
    .filter(([k]) => frames.get(k)!.functionName !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]): HotSpot => {
      const f = frames.get(k)!;
      const tot = total.get(k) ?? v;
      const caller = [...(callers.get(k) ?? [])].sort((a, b) => b[1] - a[1])[0]?.[0];
      const cf = caller ? frames.get(caller) : undefined;
      return {
        function: f.functionName || '(anonymous)', where: SPECIAL.has(f.functionName) ? '-' : loc.where(f), area: areaOf(f),
        selfMs: v / 1e3, selfPct: (100 * v) / busy, totalMs: tot / 1e3, totalPct: (100 * tot) / busy,
        calledFrom: cf && !SPECIAL.has(cf.functionName) ? `${cf.functionName || '(anonymous)'} ${loc.where(cf)}` : '-',
      };
    });
  return {
    load, ops, profile: relative(REPO_DIR, file),
    wallMs: wall / 1e3, idleMs: idle / 1e3, busyMs: busy / 1e3, gcMs: gc / 1e3, busyUsPerOp: busy / ops, windowed,
    byArea: [...areas].sort((a, b) => b[1] - a[1]).map(([area, v]) => ({ area, selfMs: v / 1e3, pctOfBusy: (100 * v) / busy })),
    top: hot,
  };
}

export interface ProfileOptions {
  loads?: Load[];
  /** Operations per load (default: rtt 30000, writes 300000). */
  n?: number;
  top?: number;
  progress?: (line: string) => void;
}

/** Runs `irqlab serve` under --cpu-prof once per load and summarises each profile. */
export async function profileServer(opts: ProfileOptions = {}): Promise<ProfileSummary[]> {
  const say = opts.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const programs = buildPrograms();
  const out: ProfileSummary[] = [];
  for (const load of opts.loads ?? ['rtt', 'posted']) {
    const n = opts.n ?? (load === 'rtt' ? 30000 : load === 'pipelined' ? 100000 : 300000);
    const folder = join(OUT_DIR, 'profile', load);
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    const sourcesDir = join(folder, 'generated');
    const dir = mkdtempSync(join(tmpdir(), 'irqlab-profile-'));
    const socket = join(dir, 'irqlab.sock');
    say(`[profile] ${load}: irqlab serve under --cpu-prof, ${n} operations`);
    const server = await startServer('irqlab (profiled)', process.execPath, [
      '--cpu-prof', `--cpu-prof-dir=${folder}`, '--cpu-prof-interval', '100',
      '--import', 'tsx', '--import', pathToFileURL(join(REPO_DIR, 'bench', 'profile-hook.mjs')).href,
      join(REPO_DIR, 'src', 'cli', 'profile-serve.ts'), '--socket', socket, '--quiet',
    ], socket, { cwd: REPO_DIR, env: { ...process.env, IRQLAB_PROFILE_SOURCES: sourcesDir } });
    const load1 = loadNow().load1;
    let window: [number, number] | undefined;
    try {
      const args = (mode: Load, count: number) => {
        const base = ['--socket', socket, '--verify', '--warmup', '0'];
        if (mode === 'rtt') return [...base, 'rtt', String(count)];
        if (mode === 'pipelined') return [...base, 'pipelined', String(count), '16'];
        if (mode === 'batched') return [...base, '--batch', '64', 'posted', String(count)];
        return [...base, mode, String(count)];
      };
      await runJson(programs.client, args(load, Math.ceil(n / 5))); // warm-up (outside the window)
      const run = await runJson<{ t0_ns: number; t1_ns: number }>(programs.client, args(load, n));
      window = [run.t0_ns, run.t1_ns];
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const prof = readdirSync(folder).find((f) => f.endsWith('.cpuprofile'));
    if (!prof) throw new Error(`no .cpuprofile in ${folder}: did the server exit cleanly?\n${server.stderr()}`);
    const summary = summariseProfile(join(folder, prof), sourcesDir, load, n, window, opts.top);
    if (!summary.windowed) say(`[profile] ${load}: the client's timestamps are outside the profile; counting the whole profile (start-up included)`);
    out.push({ ...summary, load1 });
  }
  writeFileSync(join(OUT_DIR, 'profile', 'summary.json'), JSON.stringify(out, null, 2) + '\n');
  return out;
}

export function renderProfile(s: ProfileSummary): string {
  const head = `${s.load}: ${s.ops} operations${s.windowed ? ' (timed part only)' : ' (whole profile, start-up included)'}, ${s.wallMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms (${s.busyUsPerOp.toFixed(2)} us per operation), ` +
    `idle ${s.idleMs.toFixed(0)} ms, GC ${s.gcMs.toFixed(0)} ms; load ${s.load1.toFixed(2)}\n  ${s.profile}`;
  const areas = table(['area', 'self ms', '% of busy'], s.byArea.map((a) => [a.area, a.selfMs.toFixed(1), a.pctOfBusy.toFixed(1)]), ['l', 'r', 'r']);
  const top = table(['function', 'where', 'self %', 'total %', 'mostly called from'],
    s.top.map((h) => [h.function, h.where, h.selfPct.toFixed(1), h.totalPct.toFixed(1), h.calledFrom]), ['l', 'l', 'r', 'r', 'l']);
  return `${head}\n\n${areas}\n\n${top}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { load: { type: 'string', multiple: true }, n: { type: 'string' }, top: { type: 'string' } } });
  const loads = (values.load ?? ['rtt', 'posted']) as Load[];
  for (const l of loads) if (!['rtt', 'pipelined', 'posted', 'batched', 'multi'].includes(l)) throw new Error(`unknown load ${l}`);
  const summaries = await profileServer({ loads, n: values.n ? Number(values.n) : undefined, top: values.top ? Number(values.top) : 20 });
  for (const s of summaries) process.stdout.write(`${renderProfile(s)}\n`);
}
