// The QEMU process: spawn, exit, stop. Knows nothing about what runs inside.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Keeps the end of QEMU's own output (errors such as "Failed to connect"). */
const OUTPUT_LIMIT = 16 * 1024;

// util-linux setpriv sets PR_SET_PDEATHSIG before exec'ing QEMU: the kernel kills QEMU
// when Node dies, even by SIGKILL, where no exit handler of ours can run.
const SETPRIV = '/usr/bin/setpriv';

export class QemuProcess {
  readonly pid: number;
  /** Resolves when QEMU has exited; never rejects. */
  readonly exited: Promise<QemuExit>;
  #child: ChildProcess;
  #exit: QemuExit | undefined;
  #output = '';

  private constructor(child: ChildProcess, pid: number) {
    this.#child = child;
    this.pid = pid;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** Starts QEMU; rejects if the binary cannot be executed at all. */
  static async spawn(bin: string, args: string[], opts: { cwd?: string } = {}): Promise<QemuProcess> {
    const usePdeathsig = existsSync(SETPRIV);
    const file = usePdeathsig ? SETPRIV : bin;
    const argv = usePdeathsig ? ['--pdeathsig', 'KILL', '--', bin, ...args] : args;
    // detached: QEMU leads its own process group, so stop() reaches a wrapper script's
    // children too, and a Ctrl-C meant for Node does not hit QEMU before we clean up.
    const child = spawn(file, argv, { cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot start QEMU (${bin}): ${err.message}`)));
    });
    return new QemuProcess(child, child.pid!);
  }

  /** Set once QEMU has exited. */
  get exit(): QemuExit | undefined {
    return this.#exit;
  }

  /** What QEMU itself printed (its errors and warnings, not the guest's console). */
  get output(): string {
    return this.#output;
  }

  /**
   * QEMU's output for an error message: without the CPU register dump that follows
   * "hardware error", and at most 20 lines.
   */
  get outputSummary(): string {
    const lines = this.#output.trim().split('\n');
    const dump = lines.findIndex((l) => /^CPU #\d+:/.test(l));
    const kept = lines.slice(0, dump >= 0 ? dump : undefined);
    return (kept.length > 20 ? [...kept.slice(0, 20), '...'] : kept).join('\n');
  }

  /** Kills QEMU at once; safe to call from a process 'exit' handler (synchronous). */
  kill(): void {
    this.#signal('SIGKILL');
  }

  /**
   * Waits up to graceMs for QEMU to exit by itself (the guest was asked to power off),
   * then SIGTERM (QEMU exits cleanly on it), then SIGKILL.
   */
  async stop(graceMs: number): Promise<QemuExit> {
    if (await this.#exitedWithin(graceMs)) return this.#exit!;
    this.#signal('SIGTERM');
    if (await this.#exitedWithin(2000)) return this.#exit!;
    this.#signal('SIGKILL');
    return this.exited;
  }

  #signal(sig: NodeJS.Signals): void {
    if (this.#exit !== undefined) return;
    try {
      process.kill(-this.pid, sig); // the whole process group
    } catch {
      this.#child.kill(sig);
    }
  }

  async #exitedWithin(ms: number): Promise<boolean> {
    if (this.#exit !== undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export function describeExit(e: QemuExit): string {
  return e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`;
}
