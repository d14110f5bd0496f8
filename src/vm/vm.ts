// A booted guest and what a test does with it: run commands, read and write files,
// load modules, watch the kernel console, stop. The boot itself is boot.ts.

import { join } from 'node:path';
import { QmpClient } from './qmp.ts';
import type { AgentClient } from './agent-client.ts';
import type { AgentReply } from './agent-protocol.ts';
import { boot, type Booted } from './boot.ts';
import { GuestCommandError, GuestTimeoutError, VmError } from './errors.ts';
import type { ResolvedKernel } from './lab.ts';
import { nonNegativeInt, positiveInt, type VmOptions } from './options.ts';
import { describeExit, type QemuExit, type QemuProcess } from './qemu-process.ts';
import { seconds, type SerialConsole, type WaitForLogOptions } from './serial-console.ts';
import { KernelLog } from './kernel-log.ts';

export interface RunOptions {
  /** The guest kills the command after this long (default 60 s; 0: never). */
  timeoutMs?: number;
  /** Throw GuestCommandError unless the status is 0. */
  check?: boolean;
}

export interface RunResult<T extends string | Buffer = string> {
  status: number;
  stdout: T;
  stderr: T;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class Vm {
  readonly kernel: ResolvedKernel;
  /** The guest's `uname -r`. */
  readonly release: string;
  /** Seconds from start() to the agent's banner. */
  readonly bootSeconds: number;
  /** Resolves when QEMU has exited (after stop() or by itself). */
  readonly exited: Promise<QemuExit>;
  /**
   * QEMU's working directory (sockets, initramfs); removed when QEMU exits, so give
   * QEMU absolute paths for anything to keep, such as a trace log (-D).
   */
  readonly tempDir: string;
  /** The kernel-log watchdog: splats since the last check (see kernel-log.ts). */
  readonly kernelLog: KernelLog;
  #qemu: QemuProcess;
  #console: SerialConsole;
  #agent: AgentClient;
  #stopping = false;

  private constructor(b: Booted) {
    const { qemu, console, agent } = b;
    this.kernel = b.kernel;
    this.release = b.release;
    this.bootSeconds = b.bootSeconds;
    this.tempDir = b.tempDir;
    this.#qemu = qemu;
    this.#console = console;
    this.#agent = agent;
    const vm = this;
    this.kernelLog = new KernelLog({
      // A guest QEMU has stopped (an unrecoverable device error) cannot answer:
      // its console is read at once instead of waiting out the agent.
      dmesg: async () => {
        if (!(await vm.running())) throw new VmError('the guest is not running');
        return (await vm.run('dmesg', { check: true, timeoutMs: 15_000 })).stdout;
      },
      get console() { return vm.console; },
      kernel: b.kernel,
    });
    this.exited = qemu.exited.then((exit) => {
      void this.#qmp?.then((q) => q.close(), () => {});
      const why = this.#stopping
        ? new VmError('the VM was stopped')
        : new VmError(
            `QEMU ${describeExit(exit)} while the guest was running: ` +
              `${qemu.outputSummary || '(it printed nothing)'}\n${this.#context()}`,
          );
      agent.close(why);
      console.close(why);
      b.cleanup();
      return exit;
    });
  }

  /** Boots a guest and resolves once its agent answers. */
  static async start(opts: VmOptions = {}): Promise<Vm> {
    return new Vm(await boot(opts));
  }

  /** QEMU's pid. */
  get pid(): number {
    return this.#qemu.pid;
  }

  #qmp: Promise<QmpClient> | undefined;

  /** Runs a QMP command on this VM's QEMU (e.g. device_del). */
  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.#qmp ??= QmpClient.connect(join(this.tempDir, 'qmp.sock'));
    return (await this.#qmp).execute(command, args);
  }

  /** Whether the guest's CPUs run (QEMU stops the VM on an unrecoverable device error, for one). */
  async running(): Promise<boolean> {
    if (this.#qemu.exit !== undefined) return false;
    try {
      const s = (await this.qmp('query-status')) as { running?: boolean };
      return s.running !== false;
    } catch {
      return true; // no answer from QMP: let the agent say
    }
  }

  /** What QEMU itself printed so far (its errors and warnings, not the guest's). */
  get qemuOutput(): string {
    return this.#qemu.output;
  }

  /** The kernel console text so far. */
  get console(): string {
    return this.#console.text;
  }

  /** Everything the console has received, as a mark for waitForLog's `from`. */
  get consoleLength(): number {
    return this.#console.length;
  }

  /** Types into the guest's console (ttyS0); boot with consoleShell for a shell there. */
  writeConsole(data: string | Uint8Array): void {
    this.#console.write(data);
  }

  /** Calls fn with each new piece of console text; returns a function to stop. */
  onConsole(fn: (text: string) => void): () => void {
    return this.#console.onText(fn);
  }

  /** Runs a shell command in the guest (busybox sh, cwd /). */
  run(command: string, opts?: RunOptions & { encoding?: 'utf8' }): Promise<RunResult<string>>;
  run(command: string, opts: RunOptions & { encoding: 'buffer' }): Promise<RunResult<Buffer>>;
  async run(
    command: string,
    opts: RunOptions & { encoding?: 'utf8' | 'buffer' } = {},
  ): Promise<RunResult<string> | RunResult<Buffer>> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const what = `guest command ${quote(command)}`;
    const started = Date.now();
    const reply = await this.#agent.call({ op: 'run', data: Buffer.from(command, 'utf8') }, timeoutMs, what);
    const text = { status: reply.status, stdout: reply.stdout.toString('utf8'), stderr: reply.stderr.toString('utf8') };
    // The agent kills a command that outlives its timeout with SIGKILL (status 137).
    if (timeoutMs > 0 && reply.status === 137 && Date.now() - started >= Math.ceil(timeoutMs / 1000) * 1000) {
      throw new GuestTimeoutError(`${what} timed out after ${seconds(timeoutMs)}`, reply.status, text.stdout, text.stderr);
    }
    if (opts.check && reply.status !== 0) {
      throw new GuestCommandError(
        `${what} failed with status ${reply.status}: ${text.stderr.trim() || '(no stderr)'}`,
        reply.status,
        text.stdout,
        text.stderr,
      );
    }
    return opts.encoding === 'buffer' ? { status: reply.status, stdout: reply.stdout, stderr: reply.stderr } : text;
  }

  /** Reads a guest file, or length bytes at offset (one read, e.g. of PCI config space). */
  async readFile(path: string, opts: { offset?: number; length?: number; timeoutMs?: number } = {}): Promise<Buffer> {
    let range = '';
    if (opts.offset !== undefined || opts.length !== undefined) {
      if (opts.length === undefined) throw new VmError(`readFile(${path}): an offset needs a length`);
      range = `${nonNegativeInt(opts.offset ?? 0, 'offset')} ${positiveInt(opts.length, 'length')}`;
    }
    const reply = await this.#agent.call(
      { op: 'read', arg1: path, arg2: range },
      opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      `reading ${path} in the guest`,
    );
    this.#mustSucceed(reply, `cannot read ${path} in the guest`);
    return reply.stdout;
  }

  /**
   * Writes a guest file. With an offset: one write(2) of data at that offset, no
   * truncation (so 4 bytes to a sysfs PCI config file are one dword config write).
   */
  async writeFile(
    path: string,
    data: string | Uint8Array,
    opts: { offset?: number; timeoutMs?: number } = {},
  ): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let range = '';
    if (opts.offset !== undefined) {
      if (bytes.length === 0) return; // a write of nothing at an offset changes nothing
      range = `${nonNegativeInt(opts.offset, 'offset')} ${bytes.length}`;
    }
    const reply = await this.#agent.call(
      { op: 'write', arg1: path, arg2: range, data: bytes },
      opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      `writing ${path} in the guest`,
    );
    this.#mustSucceed(reply, `cannot write ${path} in the guest`);
  }

  /**
   * Loads a module: one given in VmOptions.modules by its file name, or any guest path.
   * params are the module's parameters ('a=1 b=2').
   */
  async insmod(module: string, params = ''): Promise<void> {
    const reply = await this.#agent.call(
      { op: 'insmod', arg1: module, arg2: params },
      DEFAULT_TIMEOUT_MS,
      `insmod ${module}`,
    );
    if (reply.status !== 0) {
      const dmesg = await this.dmesg().catch(() => '');
      const tail = dmesg.trimEnd().split('\n').slice(-5).join('\n');
      this.#mustSucceed(reply, `cannot load ${module} in the guest (last kernel messages:\n${tail}\n)`);
    }
  }

  /** The guest kernel's log buffer (not limited by the console log level). */
  async dmesg(): Promise<string> {
    return (await this.run('dmesg', { check: true })).stdout;
  }

  /**
   * Waits for re in the kernel console's complete lines (all of them, or from
   * opts.from on: take vm.consoleLength before the action whose message you expect).
   */
  waitForLog(re: RegExp, opts?: WaitForLogOptions): Promise<RegExpMatchArray> {
    return this.#console.waitFor(re, opts);
  }

  /**
   * Powers the guest off, gives it graceMs to let QEMU exit, then ends QEMU. Leaves
   * no process and no temp file. Safe to call more than once.
   */
  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#qemu.exit === undefined) {
        // poweroff -f is reboot(2): drivers' shutdown hooks run, then ACPI ends QEMU.
        // No reply comes. A busy agent would only read it after the command in
        // flight, so then QEMU is ended at once.
        const busy = this.#agent.busy;
        this.#agent.call({ op: 'run', data: Buffer.from('poweroff -f') }, 0, 'poweroff').catch(() => {});
        await this.#qemu.stop(busy ? 0 : (opts.graceMs ?? 5000));
      }
    }
    await this.exited;
  }

  #context(): string {
    return `last console lines:\n${this.#console.tail()}`;
  }

  #mustSucceed(reply: AgentReply, message: string): void {
    if (reply.status === 0) return;
    const stderr = reply.stderr.toString('utf8');
    throw new GuestCommandError(
      `${message}: ${stderr.trim() || `status ${reply.status}`}`,
      reply.status,
      reply.stdout.toString('utf8'),
      stderr,
    );
  }
}

function quote(command: string): string {
  const oneLine = command.length > 60 ? `${command.slice(0, 57)}...` : command;
  return `'${oneLine.replaceAll('\n', '; ')}'`;
}

