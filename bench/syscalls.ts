// What one operation costs each server, below the JavaScript profile: user
// and kernel CPU time (all threads, /proc) and the system calls it makes,
// counted with perf's syscall tracepoints when perf can (root, or a low
// perf_event_paranoid). A V8 profile charges a system call's kernel time to
// the JavaScript function that made it; this says which calls, how many.
//
//   node --import tsx bench/syscalls.ts [--n N]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPrograms, REPO_DIR } from './build.ts';
import { startServer, runJson, pinThread, leastBusyCpu, type ServerProcess } from './processes.ts';
import { table } from '../src/text/table.ts';

export type CostLoad = 'rtt' | 'posted';

export interface ServerCost {
  server: string;
  load: CostLoad;
  ops: number;
  userUsPerOp: number;
  kernelUsPerOp: number;
  /** System calls per operation by name; null when perf cannot count them here. */
  syscallsPerOp: Record<string, number> | null;
}

const TRACED = ['epoll_wait', 'epoll_pwait', 'poll', 'ppoll', 'read', 'recvmsg', 'recvfrom', 'write', 'sendto', 'sendmsg', 'futex'];
const CLK_TCK = 100; // USER_HZ on Linux

function cpuTicks(pid: number): { user: number; kernel: number } {
  let user = 0;
  let kernel = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      user += Number(f[11]);
      kernel += Number(f[12]);
    } catch {
      // thread gone
    }
  }
  return { user, kernel };
}

function perfWorks(): boolean {
  const r = spawnSync('perf', ['stat', '-e', 'syscalls:sys_enter_read', 'true'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

/** Counts the traced system calls of `pid` while `work` runs. */
async function countSyscalls(pid: number, work: () => Promise<unknown>): Promise<Record<string, number>> {
  const events = TRACED.map((s) => `syscalls:sys_enter_${s}`).join(',');
  const perf = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  perf.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<void>((resolve) => perf.once('close', () => resolve()));
  await new Promise((r) => setTimeout(r, 300)); // perf attaches
  try {
    await work();
  } finally {
    perf.kill('SIGINT');
    await done;
  }
  const counts: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const f = line.split(',');
    const m = /syscalls:sys_enter_(\w+)/.exec(line);
    if (m && /^\d+$/.test(f[0])) counts[m[1]] = Number(f[0]);
  }
  return counts;
}

export async function measureCosts(opts: { n?: number; progress?: (line: string) => void } = {}): Promise<ServerCost[]> {
  const say = opts.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const programs = buildPrograms();
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-costs-'));
  const perf = perfWorks();
  if (!perf) say('[costs] perf cannot count system calls here (needs root or perf_event_paranoid <= 1): CPU time only');
  const servers: ServerProcess[] = [];
  const out: ServerCost[] = [];
  try {
    servers.push(await startServer('C floor', programs.floor, ['--socket', join(dir, 'floor.sock')], join(dir, 'floor.sock')));
    servers.push(await startServer('node floor', process.execPath, ['--import', 'tsx', join(REPO_DIR, 'bench', 'node-floor.ts'), '--socket', join(dir, 'node.sock')], join(dir, 'node.sock'), { cwd: REPO_DIR }));
    servers.push(await startServer('irqlab', process.execPath, [join(REPO_DIR, 'src', 'cli', 'bin.mjs'), 'serve', '--socket', join(dir, 'irqlab.sock'), '--quiet'], join(dir, 'irqlab.sock'), { cwd: REPO_DIR }));
    for (const load of ['rtt', 'posted'] as CostLoad[]) {
      const n = opts.n ?? (load === 'rtt' ? 50000 : 400000);
      for (const s of servers) {
        say(`[costs] ${s.name}: ${load}, ${n} operations`);
        // Round trips on one CPU, as the bench's main round-trip row.
        const cpu = load === 'rtt' ? await leastBusyCpu() : undefined;
        const client = (count: number) => {
          const args = ['--socket', s.socket, '--warmup', '0', ...(load === 'rtt' ? ['rtt'] : ['posted']), String(count)];
          return cpu === undefined ? runJson(programs.client, args) : runJson('taskset', ['-c', String(cpu), programs.client, ...args]);
        };
        if (cpu !== undefined) pinThread(s.pid, String(cpu));
        try {
          await client(Math.ceil(n / 5)); // warm-up
          const t0 = cpuTicks(s.pid);
          await client(n);
          const t1 = cpuTicks(s.pid);
          const counts = perf ? await countSyscalls(s.pid, () => client(Math.ceil(n / 5))) : null;
          const perOp = counts && Object.fromEntries(Object.entries(counts).filter(([, c]) => c > 0).map(([k, c]) => [k, c / Math.ceil(n / 5)]));
          out.push({
            server: s.name, load, ops: n,
            userUsPerOp: ((t1.user - t0.user) / CLK_TCK) * 1e6 / n,
            kernelUsPerOp: ((t1.kernel - t0.kernel) / CLK_TCK) * 1e6 / n,
            syscallsPerOp: perOp,
          });
        } finally {
          if (cpu !== undefined) pinThread(s.pid, `0-${cpus().length - 1}`);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export function renderCosts(costs: ServerCost[]): string {
  return table(['server', 'load', 'user us/op', 'kernel us/op', 'system calls per op'], costs.map((c) => [
    c.server, c.load, c.userUsPerOp.toFixed(2), c.kernelUsPerOp.toFixed(2),
    c.syscallsPerOp ? Object.entries(c.syscallsPerOp).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v < 0.1 ? v.toFixed(3) : v.toFixed(2)}`).join(', ') : '-',
  ]), ['l', 'l', 'r', 'r', 'l']);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { n: { type: 'string' } } });
  const costs = await measureCosts({ n: values.n ? Number(values.n) : undefined });
  process.stdout.write(`${renderCosts(costs)}\n`);
}
