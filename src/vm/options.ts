// What a caller may ask of a VM, and the checks that turn it into a boot plan.
// Everything is checked before anything starts, with a message that says the fix.

import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VmError } from './errors.ts';
import { kernelBuiltIn, loadLab, resolveKernel, type KernelChoice, type Lab, type ResolvedKernel } from './lab.ts';
import type { AgentPort, VmDevice } from './qemu-args.ts';
import { resolveKernelModules, type KernelModuleSet } from './kernel-modules.ts';

/** The generic driver's console tool, in every guest as /usr/bin/irqlab-poke. */
const IRQLAB_POKE = fileURLToPath(new URL('../../qemu/guest-generic/irqlab-poke', import.meta.url));

export type BootPhase = 'qemu-started' | 'kernel-booting' | 'boot-retry' | 'agent-ready';

export interface BootProgress {
  phase: BootPhase;
  /** Since Vm.start was called. */
  seconds: number;
  message: string;
}

export interface VmOptions {
  /**
   * '6.12' (default), '7.3', the lab's debug builds of them ('6.12-debug', '7.3-debug':
   * lockdep, atomic-sleep and shared-irq checks, irq debugfs) or the path of a bzImage.
   */
  kernel?: KernelChoice;
  /**
   * Intel vIOMMU with interrupt remapping (the guest then uses IR-PCI-MSI). The Debian
   * kernels also turn DMA remapping on, so devices see IOVAs and DMA_MAP/DMA_UNMAP
   * follow the guest's mappings; cmdline 'iommu=pt' keeps remapping for interrupts
   * only (identity DMA).
   */
  iommu?: boolean;
  cpus?: number;
  memMiB?: number;
  devices?: VmDevice[];
  /** Host paths of kernel modules; the guest finds them in /irqlab/modules/<name>. */
  modules?: string[];
  /**
   * Modules of the lab kernel by name ('uio_pci_generic', 'vfio-pci'), with
   * their dependencies, in the guest's /lib/modules for `modprobe NAME`
   * (loaded by whoever boots: Testbed does, irqlab boot does).
   */
  kernelModules?: string[];
  /** lspci and setpci in the guest (the lab's pciutils, from Debian). */
  pciutils?: boolean;
  /** 'capture' (default) keeps the console; 'inherit' also copies it to our stdout. */
  console?: 'capture' | 'inherit';
  /** Appended to the kernel command line. */
  cmdline?: string;
  /** Start a shell on the console (ttyS0) for a person to type into (vm.writeConsole). */
  consoleShell?: boolean;
  /** Console log level once userspace runs (default 7: up to KERN_INFO). */
  consoleLogLevel?: number;
  /** How long the guest may take to reach the agent (default 60 s). */
  bootTimeoutMs?: number;
  /**
   * Boots to try when the guest does not reach the agent in time (default
   * $IRQLAB_BOOT_ATTEMPTS, else 1). A guest under TCG on a loaded machine can
   * hang in early boot, before the kernel prints anything; CI can boot again
   * rather than fail. Each retry is reported on stderr with the console's
   * last lines. Any other failure is never retried.
   */
  bootAttempts?: number;
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

// quiet: console output costs time under TCG. panic=-1: reboot at once, which ends
// QEMU (-no-reboot). no_timer_check: under TCG on a busy host the IO-APIC timer test
// can miss its ticks, and with interrupt remapping a failed test is a panic
// ("timer doesn't work through Interrupt-remapped IO-APIC"); QEMU's timer works.
const BASE_CMDLINE = ['console=ttyS0', 'quiet', 'panic=-1', 'no_timer_check'];

/** VmOptions checked, with defaults filled in. */
export interface BootPlan {
  lab: Lab;
  kernel: ResolvedKernel;
  iommu: boolean;
  cpus: number;
  memMiB: number;
  devices: VmDevice[];
  /** File name in the guest -> host path. */
  modules: Map<string, string>;
  /** Modules of the lab kernel asked for by name, with their dependencies. */
  kernelModules: KernelModuleSet;
  /** Other files for the initramfs: guest path -> host path, and guest path -> contents. */
  files: Map<string, string>;
  texts: Map<string, string>;
  /** Prebuilt initramfs parts appended to the boot's own (pciutils). */
  archives: string[];
  agentPort: AgentPort;
  /** The kernel command line. */
  append: string;
  consoleLogLevel: number;
  bootTimeoutMs: number;
  bootAttempts: number;
  echoConsole: boolean;
  consoleShell: boolean;
  qemuArgs: string[];
}

export function planBoot(opts: VmOptions): BootPlan {
  const lab = typeof opts.lab === 'object' ? opts.lab : loadLab(opts.lab);
  const kernel = resolveKernel(lab, opts.kernel ?? '6.12');
  const kernelModules = resolveKernelModules(kernel, opts.kernelModules ?? []);
  if (opts.pciutils && !lab.pciutils) throw new VmError(`the lab has no pciutils (${lab.file} predates that set-up step): run make setup`);
  return {
    lab,
    kernel,
    kernelModules,
    files: new Map([...kernelModules.files, ...(opts.pciutils ? kmodIndexes(kernel) : []), ['/usr/bin/irqlab-poke', IRQLAB_POKE]]),
    texts: kernelModules.texts,
    archives: opts.pciutils ? [lab.pciutils!.archive] : [],
    iommu: opts.iommu ?? false,
    cpus: positiveInt(opts.cpus ?? 1, 'cpus'),
    memMiB: positiveInt(opts.memMiB ?? 512, 'memMiB'),
    devices: (opts.devices ?? []).map(checkDevice),
    modules: checkModules(opts.modules ?? []),
    agentPort: opts.agentPort ?? defaultAgentPort(kernel),
    append: [...BASE_CMDLINE, opts.cmdline ?? ''].join(' ').trim(),
    consoleLogLevel: nonNegativeInt(opts.consoleLogLevel ?? 7, 'consoleLogLevel'),
    bootTimeoutMs: positiveInt(opts.bootTimeoutMs ?? 60_000, 'bootTimeoutMs'),
    bootAttempts: bootAttempts(opts.bootAttempts),
    echoConsole: opts.console === 'inherit',
    consoleShell: opts.consoleShell === true,
    qemuArgs: opts.qemuArgs ?? [],
  };
}

/**
 * lspci -vv names the kernel modules that could drive a function, through
 * libkmod, which refuses to start without the kernel's module indexes: a lab
 * kernel's go along with pciutils (about 3 MB, for names only: the modules
 * themselves stay out unless asked for).
 */
function kmodIndexes(kernel: ResolvedKernel): [string, string][] {
  if (!kernel.modules || !kernel.release) return [];
  return ['modules.dep.bin', 'modules.alias.bin', 'modules.symbols.bin', 'modules.builtin.alias.bin', 'modules.builtin.bin']
    .map((f) => [`/lib/modules/${kernel.release}/${f}`, join(kernel.modules!, f)] as [string, string])
    .filter(([, host]) => existsSync(host));
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

/** The environment variable that sets bootAttempts for every boot of a process (CI). */
export const BOOT_ATTEMPTS_ENV = 'IRQLAB_BOOT_ATTEMPTS';
const MAX_BOOT_ATTEMPTS = 5;

function bootAttempts(given: number | undefined): number {
  const env = process.env[BOOT_ATTEMPTS_ENV];
  const [n, what] = given !== undefined ? [given, 'bootAttempts'] : env ? [Number(env), BOOT_ATTEMPTS_ENV] : [1, 'bootAttempts'];
  if (!Number.isInteger(n) || n < 1 || n > MAX_BOOT_ATTEMPTS) {
    throw new VmError(`${what} must be a whole number from 1 to ${MAX_BOOT_ATTEMPTS} (got ${given ?? JSON.stringify(env)})`);
  }
  return n;
}

export function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new VmError(`${what} must be a positive integer (got ${n})`);
  return n;
}

export function nonNegativeInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw new VmError(`${what} must be a non-negative integer (got ${n})`);
  return n;
}

