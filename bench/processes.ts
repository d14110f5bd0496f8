// The processes of a benchmark run: servers that announce "listening on
// PATH", the C client (one JSON object on stdout), and what a process has
// cost in CPU time so far (all its threads, from /proc).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export interface ServerProcess {
  name: string;
  socket: string;
  pid: number;
  child: ChildProcess;
  /** What it wrote on stderr (kept for error messages). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `cmd args`, resolves once it prints "listening on SOCKET". */
export function startServer(name: string, cmd: string, args: string[], socket: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ServerProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err = (err + d).slice(-8192);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: ServerProcess = {
    name,
    socket,
    pid: child.pid ?? -1,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not say "listening on ${socket}" within ${opts.timeoutMs ?? 30000} ms${err ? `:\n${err}` : ''}`));
    }, opts.timeoutMs ?? 30000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes(`listening on ${socket}`)) {
        clearTimeout(timer);
        resolve(server);
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ${e.message}`));
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${sig ?? code}) before listening${err ? `:\n${err}` : ''}`));
    });
  });
}

/** Runs a program that prints one JSON object on stdout; rejects with its stderr on failure. */
export function runJson<T>(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timeoutMs = opts.timeoutMs ?? 60000;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      const what = `${cmd.split('/').pop()} ${args.join(' ')}`;
      if (code !== 0) {
        reject(new Error(`${what} failed (${sig ? `killed by ${sig}${sig === 'SIGKILL' ? ` after ${timeoutMs} ms` : ''}` : `exit ${code}`}): ${err.trim() || out.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
      } catch {
        reject(new Error(`${what} printed no JSON: ${out.trim()} ${err.trim()}`));
      }
    });
  });
}

/**
 * CPU time a process has used, in ns, summed over its threads (a Node server
 * has libuv and V8 helper threads besides the main one). From schedstat, which
 * counts in ns, not in clock ticks.
 */
export function cpuTimeNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return total;
}

/** The 1-minute load average and how many tasks are runnable right now. */
export function loadNow(): { load1: number; running: number } {
  const f = readFileSync('/proc/loadavg', 'utf8').split(' ');
  return { load1: Number(f[0]), running: Number(f[3].split('/')[0]) };
}

/**
 * Sets the CPUs one thread may run on (a process's main thread when given its
 * pid): "1", "0-1"... Returns false when that cannot be done here (no taskset).
 */
export function pinThread(tid: number, cpus: string): boolean {
  const r = spawnSync('taskset', ['-p', '-c', cpus, String(tid)], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

function cpuIdleTicks(): number[] {
  return readFileSync('/proc/stat', 'utf8').split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const f = l.split(/\s+/).slice(1).map(Number);
      return f[3] + f[4]; // idle + iowait
    });
}

/** The CPU that was idle the most over the next `ms` milliseconds (other work on a shared machine). */
export async function leastBusyCpu(ms = 200): Promise<number> {
  const a = cpuIdleTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuIdleTicks();
  let best = 0;
  for (let i = 1; i < b.length; i++) if (b[i] - a[i] > b[best] - a[best]) best = i;
  return best;
}
