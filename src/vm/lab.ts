// The lab: what `make setup` installed (QEMU with the vfio-user client, Debian guest
// kernels, busybox, the initramfs builder), described by $IRQLAB_HOME/lab.json.
// This file only reads and checks that description; it never installs anything.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

export interface LabKernel {
  /** `uname -r` of the kernel. */
  release: string;
  /** The bzImage QEMU boots with -kernel. */
  vmlinuz: string;
  /** The kernel's .config (Debian's /boot/config-<release>). */
  config: string;
  systemMap: string;
  /** /lib/modules/<release> of that kernel. */
  modules: string;
  /**
   * Only on the lab's own kernels (6.12-debug, 7.3-debug): built from Debian's source
   * with qemu/kconfig/lab-debug.config. `checkers` are the debug options it has on
   * (PROVE_LOCKING, DEBUG_ATOMIC_SLEEP, ...), as named in Kconfig without CONFIG_.
   */
  debug?: { checkers: string[] };
  /** The kept build tree of one of the lab's own kernels: modules build against it. */
  build?: string;
}

/** Debian's linux-source of a stock kernel series, unpacked (read only: never built in). */
export interface LabSource {
  /** The Debian version, the same as the stock kernel's (e.g. 6.12.117-1). */
  version: string;
  path: string;
}

/**
 * The kernel's PCI endpoint test tools, built by set-up from Debian's sources for the
 * guests: drivers/misc/pci_endpoint_test.c and its user-space programs (static).
 */
export interface LabEndpoint {
  /** pci_endpoint_test.ko for each lab kernel, by kernel name. */
  modules: Record<string, string>;
  /** tools/pci/pcitest of 6.12. */
  pcitest: string;
  /** tools/pci/pcitest.sh of 6.12: the tree's own list of pcitest runs. */
  pcitestScript: string;
  /** tools/testing/selftests/pci_endpoint/pci_endpoint_test of 7.3 (kselftest harness). */
  kselftest: string;
}

export interface Lab {
  version: 1;
  /** Where lab.json was read from (not part of the file). */
  file: string;
  qemu: { bin: string; version: string };
  kernels: Record<string, LabKernel>;
  busybox: string;
  buildroot?: unknown;
  initramfs: { builder: string };
  /** By series ('6.12', '7.3'). */
  sources: Record<string, LabSource>;
  endpoint: LabEndpoint;
}

/** A key of lab.json's kernels (Debian's 6.12 and 7.3, the lab's debug builds of them) or a path to a bzImage. */
export type KernelChoice = '6.12' | '7.3' | '6.12-debug' | '7.3-debug' | (string & {});

/** A kernel ready to boot. Only lab kernels know their config and modules. */
export interface ResolvedKernel {
  /** The lab key ('6.12') or the path the caller gave. */
  name: string;
  vmlinuz: string;
  release?: string;
  config?: string;
  modules?: string;
  /** Set on the lab's debug kernels: the checkers they have on. */
  debug?: { checkers: string[] };
}

export class LabError extends Error {
  override name = 'LabError';
}

export function labHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IRQLAB_HOME) return resolve(env.IRQLAB_HOME);
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'irqlab');
}

export function labFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(labHome(env), 'lab.json');
}

/** True when lab.json exists (tests use it to decide whether to skip). */
export function hasLab(env: NodeJS.ProcessEnv = process.env): boolean {
  return existsSync(labFile(env));
}

/**
 * Reads and checks lab.json. Every path it names must exist, so that a stale or
 * half-finished setup fails here with a message instead of deep inside QEMU.
 */
export function loadLab(file: string = labFile()): Lab {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LabError(
        `${file} does not exist: run \`make setup\` first ` +
          '(it installs QEMU and the guest kernels; set IRQLAB_HOME to use another lab)',
      );
    }
    throw new LabError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LabError(`${file} is not valid JSON (${(err as Error).message}): run \`make setup\` again`);
  }
  return checkLab(json, file);
}

/** Validates the parsed lab.json; exported for tests. */
export function checkLab(json: unknown, file: string): Lab {
  const problems: string[] = [];
  const at = (where: string, what: string): void => {
    problems.push(`${where} ${what}`);
  };
  const obj = (v: unknown, where: string): Record<string, unknown> => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    at(where, 'must be an object');
    return {};
  };
  const str = (v: unknown, where: string): string => {
    if (typeof v === 'string' && v !== '') return v;
    at(where, 'must be a non-empty string');
    return '';
  };
  const file_ = (v: unknown, where: string, kind: 'file' | 'dir' = 'file'): string => {
    const p = str(v, where);
    if (p === '') return p;
    if (!isAbsolute(p)) at(where, `must be an absolute path (got ${p})`);
    else if (!existsSync(p)) at(where, `names ${p}, which does not exist`);
    else if (kind === 'dir' ? !statSync(p).isDirectory() : !statSync(p).isFile()) at(where, `names ${p}, which is not a ${kind}`);
    return p;
  };

  const root = obj(json, 'lab.json');
  if (root.version !== 1) at('version', `must be 1 (got ${JSON.stringify(root.version)})`);
  const qemu = obj(root.qemu, 'qemu');
  const kernelsIn = obj(root.kernels, 'kernels');
  const kernels: Record<string, LabKernel> = {};
  for (const [name, k] of Object.entries(kernelsIn)) {
    const kk = obj(k, `kernels.${name}`);
    kernels[name] = {
      release: str(kk.release, `kernels.${name}.release`),
      vmlinuz: file_(kk.vmlinuz, `kernels.${name}.vmlinuz`),
      config: file_(kk.config, `kernels.${name}.config`),
      systemMap: file_(kk.systemMap, `kernels.${name}.systemMap`),
      modules: file_(kk.modules, `kernels.${name}.modules`, 'dir'),
    };
    if (kk.debug !== undefined) {
      const checkers = obj(kk.debug, `kernels.${name}.debug`).checkers;
      if (!Array.isArray(checkers) || !checkers.every((c) => typeof c === 'string' && /^[A-Z0-9_]+$/.test(c))) {
        at(`kernels.${name}.debug.checkers`, 'must be a list of Kconfig option names');
      } else {
        kernels[name]!.debug = { checkers: checkers as string[] };
      }
    }
    if (kk.build !== undefined) kernels[name]!.build = file_(kk.build, `kernels.${name}.build`, 'dir');
  }
  if (Object.keys(kernels).length === 0 && problems.length === 0) at('kernels', 'lists no kernel');
  const initramfs = obj(root.initramfs, 'initramfs');
  const sources: Record<string, LabSource> = {};
  for (const [series, v] of Object.entries(obj(root.sources, 'sources'))) {
    const src = obj(v, `sources.${series}`);
    sources[series] = { version: str(src.version, `sources.${series}.version`), path: file_(src.path, `sources.${series}.path`, 'dir') };
  }
  const endpointIn = obj(root.endpoint, 'endpoint');
  const endpointModules: Record<string, string> = {};
  for (const [name, p] of Object.entries(obj(endpointIn.modules, 'endpoint.modules'))) {
    endpointModules[name] = file_(p, `endpoint.modules.${name}`);
  }
  for (const name of Object.keys(kernels)) {
    if (!(name in endpointModules)) at(`endpoint.modules`, `has no pci_endpoint_test.ko for kernel ${name}`);
  }
  const lab: Lab = {
    version: 1,
    file,
    qemu: { bin: file_(qemu.bin, 'qemu.bin'), version: str(qemu.version, 'qemu.version') },
    kernels,
    busybox: file_(root.busybox, 'busybox'),
    buildroot: root.buildroot,
    initramfs: { builder: file_(initramfs.builder, 'initramfs.builder') },
    sources,
    endpoint: {
      modules: endpointModules,
      pcitest: file_(endpointIn.pcitest, 'endpoint.pcitest'),
      pcitestScript: file_(endpointIn.pcitestScript, 'endpoint.pcitestScript'),
      kselftest: file_(endpointIn.kselftest, 'endpoint.kselftest'),
    },
  };
  if (problems.length > 0) {
    throw new LabError(`${file} is not usable: ${problems.join('; ')}. Run \`make setup\` again.`);
  }
  return lab;
}

/**
 * Picks the kernel to boot: a lab kernel by its key ('6.12', '7.3'), or any bzImage
 * by path (then no config or modules are known).
 */
export function resolveKernel(lab: Lab, choice: KernelChoice): ResolvedKernel {
  const k = lab.kernels[choice];
  if (k) return { name: choice, vmlinuz: k.vmlinuz, release: k.release, config: k.config, modules: k.modules, debug: k.debug };
  const looksLikePath = choice.includes('/') || existsSync(choice);
  if (!looksLikePath) {
    const known = Object.keys(lab.kernels).join(', ');
    throw new LabError(`unknown kernel '${choice}': the lab has ${known}; or give the path of a bzImage`);
  }
  const p = resolve(choice);
  if (!existsSync(p) || !statSync(p).isFile()) throw new LabError(`kernel image ${p} does not exist`);
  return { name: choice, vmlinuz: p };
}

/** Whether a kernel choice names one of the lab's kernels (rather than the path of a bzImage). */
export function isLabKernel(lab: Lab, choice: string): boolean {
  return Object.hasOwn(lab.kernels, choice);
}

/** Parses a kernel .config into CONFIG_X -> 'y' | 'm' | value; unset options are absent. */
export function readKernelConfig(configFile: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(configFile, 'utf8').split('\n')) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/**
 * Whether every option is built in (=y) in the kernel; undefined when its config is
 * unknown (a bzImage given by path). Our initramfs loads no modules by itself, so only
 * built-in drivers can be counted on during boot.
 */
export function kernelBuiltIn(kernel: ResolvedKernel, ...options: string[]): boolean | undefined {
  if (!kernel.config) return undefined;
  const config = readKernelConfig(kernel.config);
  return options.every((o) => config.get(o) === 'y');
}
