// Modules of a lab kernel by name ('uio_pci_generic', 'vfio-pci'): found in
// the kernel's own modules tree through its modules.dep, with everything they
// depend on, and laid out in the guest where modprobe looks for them
// (/lib/modules/<release>/, with a modules.dep of just those), so that
// `modprobe NAME` in the guest loads them in order. The Debian kernels load
// their .ko.xz files as they are (CONFIG_MODULE_DECOMPRESS).
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VmError } from './errors.ts';
import type { ResolvedKernel } from './lab.ts';
import { didYouMean } from '../text/suggest.ts';

export interface KernelModuleSet {
  /** The names asked for, as modprobe knows them (underscores). */
  names: string[];
  /** Guest path -> host path of every module file needed. */
  files: Map<string, string>;
  /** Guest path -> contents: the modules.dep of these modules. */
  texts: Map<string, string>;
}

/** A module's name as the kernel knows it: file name without .ko[.xz|.gz|.zst], '-' as '_'. */
export function moduleName(file: string): string {
  return basename(file).replace(/\.ko(\.(xz|gz|zst))?$/, '').replaceAll('-', '_');
}

/** Whether a --module argument names a module of the kernel rather than a file. */
export function isModuleName(arg: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(arg);
}

export function resolveKernelModules(kernel: ResolvedKernel, names: readonly string[]): KernelModuleSet {
  const out: KernelModuleSet = { names: [], files: new Map(), texts: new Map() };
  if (names.length === 0) return out;
  if (!kernel.modules || !kernel.release) {
    throw new VmError(`modules by name (${names.join(', ')}) come from a lab kernel's modules tree; ${kernel.name} has none: give the .ko files instead`);
  }
  const depFile = join(kernel.modules, 'modules.dep');
  if (!existsSync(depFile)) throw new VmError(`${depFile} is missing (depmod did not run at set-up): run make setup`);
  // "kernel/drivers/uio/uio_pci_generic.ko.xz: kernel/drivers/uio/uio.ko.xz": every
  // dependency, transitively, in the order modprobe loads them from the right.
  const deps = new Map<string, { path: string; line: string; deps: string[] }>();
  for (const line of readFileSync(depFile, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    deps.set(moduleName(path), { path, line, deps: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean) });
  }
  const dir = `/lib/modules/${kernel.release}`;
  const lines: string[] = [];
  const add = (path: string) => {
    const entry = deps.get(moduleName(path));
    if (!entry || out.files.has(`${dir}/${entry.path}`)) return;
    out.files.set(`${dir}/${entry.path}`, join(kernel.modules!, entry.path));
    lines.push(entry.line);
    for (const d of entry.deps) add(d);
  };
  for (const n of names) {
    const name = moduleName(n);
    if (!deps.has(name)) {
      const builtin = join(kernel.modules, 'modules.builtin');
      const isBuiltin = existsSync(builtin) && readFileSync(builtin, 'utf8').split('\n').some((l) => moduleName(l) === name);
      throw new VmError(isBuiltin
        ? `module ${n} is built into ${kernel.name} (${kernel.release}): it is there already, nothing to load`
        : `no module ${n} in ${kernel.name}'s modules (${kernel.release})${didYouMean(name, [...deps.keys()])}`);
    }
    out.names.push(name);
    add(deps.get(name)!.path);
  }
  out.texts.set(`${dir}/modules.dep`, `${lines.join('\n')}\n`);
  return out;
}
