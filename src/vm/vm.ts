// A guest VM: QEMU with a Debian kernel, our initramfs and agent, and vfio-user
// devices. Composes the pieces: lab (what to boot), initramfs, qemu-args, the QEMU
// process, the console and the agent client.

import { rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AgentClient } from './agent-client.ts';
import type { AgentReply } from './agent-protocol.ts';
import { ChardevSocket } from './chardev-socket.ts';
import { GuestCommandError, GuestTimeoutError, VmError } from './errors.ts';
import { atProcessExit } from './exit-hooks.ts';
import { buildInitramfs } from './initramfs.ts';
import { kernelBuiltIn, loadLab, resolveKernel, type KernelChoice, type Lab, type ResolvedKernel } from './lab.ts';
import { AGENT_PORT_NAME, qemuArgs, type AgentPort, type VmDevice } from './qemu-args.ts';
import { describeExit, QemuProcess, type QemuExit } from './qemu-process.ts';
import { seconds, SerialConsole, type WaitForLogOptions } from './serial-console.ts';
import { makeTempDir } from './temp-dir.ts';

export type BootPhase = 'qemu-started' | 'kernel-booting' | 'agent-ready';

export interface BootProgress {
  phase: BootPhase;
  /** Since Vm.start was called. */
  seconds: number;
  message: string;
}

export interface VmOptions {
  /** '6.12' (default), '7.3' or the path of a bzImage. */
  kernel?: KernelChoice;
  /** Intel vIOMMU with interrupt remapping (the guest then uses IR-PCI-MSI). */
  iommu?: boolean;
  cpus?: number;
  memMiB?: number;
  devices?: VmDevice[];
  /** Host paths of kernel modules; the guest finds them in /irqlab/modules/<name>. */
  modules?: string[];
  /** 'capture' (default) keeps the console; 'inherit' also copies it to our stdout. */
  console?: 'capture' | 'inherit';
  /** Appended to the kernel command line. */
  cmdline?: string;
  /** Console log level once userspace runs (default 7: up to KERN_INFO). */
  consoleLogLevel?: number;
  /** How long the guest may take to reach the agent (default 60 s). */
  bootTimeoutMs?: number;
  /** Appended to QEMU's arguments, e.g. tracing. */
  qemuArgs?: string[];
  /**
   * Where the guest agent listens: 'virtio' (a virtio-serial port; the default when
   * the kernel has VIRTIO_CONSOLE and VIRTIO_PCI built in) or 'ttyS1' (the second UART;
   * slow, but the default for a kernel whose config is unknown).
   */
  agentPort?: AgentPort;
  /** A loaded lab, or the path of a lab.json; default $IRQLAB_HOME/lab.json. */
  lab?: Lab | string;
  onProgress?: (p: BootProgress) => void;
}

export interface RunOptions {
  /** The guest kills the command after this long (default 60 s). */
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
const CONNECT_TIMEOUT_MS = 10_000;

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
  #qemu: QemuProcess;
  #console: SerialConsole;
  #agent: AgentClient;
  #cleanup: () => void;
  #stopping = false;

  private constructor(
    parts: { kernel: ResolvedKernel; release: string; bootSeconds: number; tempDir: string },
    qemu: QemuProcess,
    console: SerialConsole,
    agent: AgentClient,
    cleanup: () => void,
  ) {
    this.kernel = parts.kernel;
    this.release = parts.release;
    this.bootSeconds = parts.bootSeconds;
    this.tempDir = parts.tempDir;
    this.#qemu = qemu;
    this.#console = console;
    this.#agent = agent;
    this.#cleanup = cleanup;
    this.exited = qemu.exited.then((exit) => {
      const why = this.#stopping
        ? new VmError('the VM was stopped')
        : new VmError(
            `QEMU ${describeExit(exit)} while the guest was running: ` +
              `${qemu.outputSummary || '(it printed nothing)'}\n${this.#context()}`,
          );
      agent.close(why);
      console.close(why);
      this.#cleanup();
      return exit;
    });
  }

  /** Boots a guest and resolves once its agent answers. */
  static async start(opts: VmOptions = {}): Promise<Vm> {
    const t0 = Date.now();
    const progress = (phase: BootPhase, message: string): void => {
      opts.onProgress?.({ phase, seconds: (Date.now() - t0) / 1000, message });
    };
    const lab = typeof opts.lab === 'object' ? opts.lab : loadLab(opts.lab);
    const kernel = resolveKernel(lab, opts.kernel ?? '6.12');
    const cpus = positiveInt(opts.cpus ?? 1, 'cpus');
    const memMiB = positiveInt(opts.memMiB ?? 512, 'memMiB');
    const devices = (opts.devices ?? []).map(checkDevice);
    const modules = checkModules(opts.modules ?? []);
    const bootTimeoutMs = opts.bootTimeoutMs ?? 60_000;
    const agentPort = opts.agentPort ?? defaultAgentPort(kernel);

    const dir = makeTempDir();
    let qemu: QemuProcess | undefined;
    const sockets: ChardevSocket[] = [];
    const cleanup = (): void => {
      undoExitHook();
      qemu?.kill();
      for (const s of sockets) s.close();
      rmSync(dir, { recursive: true, force: true });
    };
    const undoExitHook = atProcessExit(cleanup);
    try {
      const initrd = await buildInitramfs(lab, dir, {
        modules,
        config: {
          IRQLAB_CONSOLE_LOGLEVEL: String(opts.consoleLogLevel ?? 7),
          IRQLAB_AGENT_PORT: agentPort === 'virtio' ? `virtio:${AGENT_PORT_NAME}` : '/dev/ttyS1',
        },
      });
      const consoleSocket = await ChardevSocket.listen(join(dir, 'console.sock'));
      sockets.push(consoleSocket);
      const agentSocket = await ChardevSocket.listen(join(dir, 'agent.sock'));
      sockets.push(agentSocket);
      const console = new SerialConsole({ echo: opts.console === 'inherit' ? process.stdout : undefined });
      const append = ['console=ttyS0', 'quiet', 'panic=-1', opts.cmdline ?? ''].join(' ').trim();
      const args = qemuArgs({
        kernel: kernel.vmlinuz,
        initrd,
        append,
        memMiB,
        cpus,
        iommu: opts.iommu ?? false,
        devices,
        consoleSocket: consoleSocket.path,
        agentSocket: agentSocket.path,
        agentPort,
        extraArgs: opts.qemuArgs,
      });
      qemu = await QemuProcess.spawn(lab.qemu.bin, args, { cwd: dir });
      const q = qemu;
      const early = (what: string): Promise<never> =>
        q.exited.then((exit) => {
          throw new VmError(
            `QEMU ${describeExit(exit)} ${what}: ${q.outputSummary || '(it printed nothing)'}` +
              (console.length > 0 ? `\nlast console lines:\n${console.tail()}` : ''),
          );
        });

      const [conSock, agentSock] = await Promise.race([
        Promise.all([consoleSocket.connection, agentSocket.connection]),
        early('before connecting its serial ports'),
        rejectAfter(CONNECT_TIMEOUT_MS, `QEMU did not connect its serial ports within ${seconds(CONNECT_TIMEOUT_MS)}`),
      ]);
      console.attach(conSock);
      progress('qemu-started', `QEMU ${lab.qemu.version} started (pid ${q.pid}), booting ${kernel.name}`);
      // SeaBIOS prints this as it jumps to the kernel; a `quiet` kernel prints nothing.
      const stopWatching = console.onText(() => {
        if (!console.text.includes('Booting from ROM')) return;
        stopWatching();
        progress('kernel-booting', 'the firmware started the kernel');
      });
      const context = (): string => `last console lines:\n${console.tail()}`;
      const agent = new AgentClient(agentSock, { context });
      const hello = await Promise.race([agent.ready(bootTimeoutMs), early('before the guest agent was ready')]);
      stopWatching();
      const bootSeconds = (Date.now() - t0) / 1000;
      progress('agent-ready', `guest agent ready on ${hello.release} after ${bootSeconds.toFixed(1)} s`);
      return new Vm({ kernel, release: hello.release, bootSeconds, tempDir: dir }, q, console, agent, cleanup);
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  /** QEMU's pid. */
  get pid(): number {
    return this.#qemu.pid;
  }

  /** The kernel console text so far. */
  get console(): string {
    return this.#console.text;
  }

  /** Everything the console has received, as a mark for waitForLog's `from`. */
  get consoleLength(): number {
    return this.#console.length;
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
    if (reply.status === 137 && Date.now() - started >= Math.ceil(timeoutMs / 1000) * 1000) {
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
        // No reply comes: the machine is gone before the agent could send one.
        this.#agent.call({ op: 'run', data: Buffer.from('poweroff -f') }, 0, 'poweroff').catch(() => {});
        await this.#qemu.stop(opts.graceMs ?? 5000);
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

function defaultAgentPort(kernel: ResolvedKernel): AgentPort {
  return kernelBuiltIn(kernel, 'CONFIG_VIRTIO_CONSOLE', 'CONFIG_VIRTIO_PCI') ? 'virtio' : 'ttyS1';
}

function checkDevice(d: VmDevice): VmDevice {
  const socket = resolve(d.socket);
  let isSocket = false;
  try {
    isSocket = statSync(socket).isSocket();
  } catch {
    // reported below
  }
  if (!isSocket) {
    throw new VmError(
      `vfio-user socket ${socket} does not exist or is not a socket: start the device server ` +
        'before the VM (QEMU connects once at startup and never reconnects)',
    );
  }
  return { ...d, socket };
}

function checkModules(paths: string[]): Map<string, string> {
  const byName = new Map<string, string>();
  for (const p of paths) {
    const file = resolve(p);
    const name = basename(file);
    try {
      if (!statSync(file).isFile()) throw new Error();
    } catch {
      throw new VmError(`module ${file} does not exist (was it built for this kernel?)`);
    }
    if (byName.has(name)) throw new VmError(`two modules are named ${name}: ${byName.get(name)} and ${file}`);
    byName.set(name, file);
  }
  return byName;
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new VmError(`${what} must be a positive integer (got ${n})`);
  return n;
}

function nonNegativeInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw new VmError(`${what} must be a non-negative integer (got ${n})`);
  return n;
}

function rejectAfter(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new VmError(message)), ms).unref());
}

function quote(command: string): string {
  const oneLine = command.length > 60 ? `${command.slice(0, 57)}...` : command;
  return `'${oneLine.replaceAll('\n', '; ')}'`;
}

