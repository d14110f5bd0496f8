// The boot sequence: initramfs, chardev sockets, QEMU, then wait for the guest agent.
// On any failure everything started so far is undone: no process, no temp file.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient, AgentError } from './agent-client.ts';
import { ChardevSocket } from './chardev-socket.ts';
import { VmError } from './errors.ts';
import { atProcessExit } from './exit-hooks.ts';
import { buildInitramfs } from './initramfs.ts';
import type { ResolvedKernel } from './lab.ts';
import { planBoot, type BootPhase, type BootPlan, type VmOptions } from './options.ts';
import { AGENT_PORT_NAME, qemuArgs } from './qemu-args.ts';
import { describeExit, QemuProcess } from './qemu-process.ts';
import { seconds, SerialConsole } from './serial-console.ts';
import { makeTempDir } from './temp-dir.ts';

const CONNECT_TIMEOUT_MS = 10_000;

/** A guest whose agent has answered. */
export interface Booted {
  kernel: ResolvedKernel;
  /** The guest's `uname -r`. */
  release: string;
  bootSeconds: number;
  tempDir: string;
  qemu: QemuProcess;
  console: SerialConsole;
  agent: AgentClient;
  /** Kills QEMU if it still runs, closes the sockets, removes the temp dir. */
  cleanup: () => void;
}

export async function boot(opts: VmOptions): Promise<Booted> {
  const t0 = Date.now();
  const progress = (phase: BootPhase, message: string): void => {
    opts.onProgress?.({ phase, seconds: (Date.now() - t0) / 1000, message });
  };
  const plan = planBoot(opts);
  for (let attempt = 1; ; attempt++) {
    try {
      return await bootOnce(plan, t0, progress);
    } catch (err) {
      // Only a guest that never said hello is booted again: everything else
      // (QEMU exiting, a bad option) would fail the same way twice.
      if (!(err instanceof AgentError && err.bootTimeout) || attempt >= plan.bootAttempts) throw err;
      const [why, consoleTail = ''] = err.message.split('; last console lines:\n');
      const line = `boot attempt ${attempt} of ${plan.bootAttempts}: ${why}; booting again`;
      const tail = consoleTail ? `\n  last console lines:\n${consoleTail.split('\n').map((l) => `    ${l}`).join('\n')}` : '';
      process.stderr.write(`irqlab: ${plan.kernel.name}: ${line}${tail}\n`);
      progress('boot-retry', line);
    }
  }
}

async function bootOnce(plan: BootPlan, t0: number, progress: (phase: BootPhase, message: string) => void): Promise<Booted> {
  const { lab, kernel } = plan;

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
      modules: plan.modules, files: plan.files, texts: plan.texts, archives: plan.archives,
      config: {
        IRQLAB_CONSOLE_LOGLEVEL: String(plan.consoleLogLevel),
        IRQLAB_AGENT_PORT: plan.agentPort === 'virtio' ? `virtio:${AGENT_PORT_NAME}` : '/dev/ttyS1',
        IRQLAB_CONSOLE_SHELL: plan.consoleShell ? '1' : '0',
      },
    });
    const consoleSocket = await ChardevSocket.listen(join(dir, 'console.sock'));
    sockets.push(consoleSocket);
    const agentSocket = await ChardevSocket.listen(join(dir, 'agent.sock'));
    sockets.push(agentSocket);
    const console = new SerialConsole({ echo: plan.echoConsole ? process.stdout : undefined });
    const args = qemuArgs({
      kernel: kernel.vmlinuz,
      initrd,
      append: plan.append,
      memMiB: plan.memMiB,
      cpus: plan.cpus,
      iommu: plan.iommu,
      devices: plan.devices,
      consoleSocket: consoleSocket.path,
      agentSocket: agentSocket.path,
      agentPort: plan.agentPort,
      qmpSocket: join(dir, 'qmp.sock'),
      extraArgs: plan.qemuArgs,
    });
    qemu = await QemuProcess.spawn(lab.qemu.bin, args, { cwd: dir });
    const q = qemu;
    // Settles only if QEMU exits first: raced against each wait below.
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
    const agent = new AgentClient(agentSock, { context: () => `last console lines:\n${console.tail()}` });
    const hello = await Promise.race([agent.ready(plan.bootTimeoutMs), early('before the guest agent was ready')]);
    stopWatching();
    const bootSeconds = (Date.now() - t0) / 1000;
    progress('agent-ready', `guest agent ready on ${hello.release} after ${bootSeconds.toFixed(1)} s`);
    return { kernel, release: hello.release, bootSeconds, tempDir: dir, qemu: q, console, agent, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function rejectAfter(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new VmError(message)), ms).unref());
}
