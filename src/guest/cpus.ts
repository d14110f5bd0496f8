// The guest's CPUs and where its interrupts go: CPU hotplug through sysfs
// (/sys/devices/system/cpu/cpuN/online; the boot CPU has no such file on
// x86 since 6.5), APIC ids from /proc/cpuinfo, and irq affinity through
// /proc/irq/N/ (smp_affinity_list is what is asked for,
// effective_affinity_list where the vector domain actually put the irq).
import type { GuestShell } from './driver.ts';
import { parseCpuList } from './lfunc.ts';

export class GuestCpuError extends Error {}

async function sh(shell: GuestShell, cmd: string): Promise<string> {
  const r = await shell.run(cmd);
  if (r.status !== 0) throw new GuestCpuError(`guest command failed (status ${r.status}): ${cmd}: ${r.stderr.trim()}`);
  return r.stdout;
}

export async function onlineCpus(shell: GuestShell): Promise<number[]> {
  return parseCpuList(await sh(shell, 'cat /sys/devices/system/cpu/online'));
}

/** CPU number -> its local APIC id, for the online CPUs ("processor" and "apicid" in /proc/cpuinfo). */
export function parseApicIds(cpuinfo: string): Map<number, number> {
  const ids = new Map<number, number>();
  for (const block of cpuinfo.split(/\n\s*\n/)) {
    const cpu = /^processor\s*:\s*(\d+)$/m.exec(block);
    const apic = /^apicid\s*:\s*(\d+)$/m.exec(block);
    if (cpu && apic) ids.set(Number(cpu[1]), Number(apic[1]));
  }
  return ids;
}

export async function apicIds(shell: GuestShell): Promise<Map<number, number>> {
  return parseApicIds(await sh(shell, 'cat /proc/cpuinfo'));
}

/**
 * Starts taking `cpu` offline (or online) in the guest and returns at once,
 * so that the host can keep firing interrupts meanwhile; the returned
 * function says whether it has finished, and throws if it failed.
 */
export async function startCpuHotplug(shell: GuestShell, cpu: number, online: boolean): Promise<() => Promise<boolean>> {
  if (!Number.isInteger(cpu) || cpu < 1) throw new GuestCpuError(`CPU ${cpu} cannot be taken offline or online (the boot CPU 0 stays; others are 1..)`);
  const file = `/sys/devices/system/cpu/cpu${cpu}/online`;
  const status = `/tmp/irqlab-hotplug-cpu${cpu}`;
  // In the background, output to files: the agent replies when its shell exits.
  await sh(shell, `test -w ${file} || { echo "${file} is not writable: no CPU ${cpu}, or it cannot be hot-plugged" >&2; exit 1; }; ` +
    `rm -f ${status} ${status}.err; (echo ${online ? 1 : 0} > ${file} 2>${status}.err; echo $? > ${status}.tmp; mv ${status}.tmp ${status}) </dev/null >/dev/null 2>&1 &`);
  return async () => {
    const r = await shell.run(`cat ${status} 2>/dev/null && cat ${status}.err`);
    if (r.status !== 0) return false;
    const [code, ...err] = r.stdout.split('\n');
    if (code.trim() !== '0') throw new GuestCpuError(`taking CPU ${cpu} ${online ? 'online' : 'offline'} failed: ${err.join(' ').trim() || `status ${code.trim()}`}`);
    return true;
  };
}

/** Asks for each irq to be delivered to `cpus` only (smp_affinity_list). */
export async function setIrqAffinity(shell: GuestShell, irqs: number[], cpus: number[]): Promise<void> {
  const list = cpus.join(',');
  await sh(shell, `for i in ${irqs.join(' ')}; do echo ${list} > /proc/irq/$i/smp_affinity_list || exit 1; done`);
}

export interface IrqAffinity {
  irq: number;
  /** smp_affinity_list: the CPUs asked for. */
  affinity: number[];
  /** effective_affinity_list: the CPU the irq targets now. */
  effective: number[];
}

export async function irqAffinities(shell: GuestShell, irqs: number[]): Promise<IrqAffinity[]> {
  const out = await sh(shell, `for i in ${irqs.join(' ')}; do echo "$(cat /proc/irq/$i/smp_affinity_list) $(cat /proc/irq/$i/effective_affinity_list)"; done`);
  const lines = out.split('\n').filter((l) => l.trim());
  if (lines.length !== irqs.length) throw new GuestCpuError(`expected ${irqs.length} affinity lines, got ${lines.length}`);
  return lines.map((l, k) => {
    const [affinity, effective = ''] = l.trim().split(' ');
    return { irq: irqs[k], affinity: parseCpuList(affinity), effective: parseCpuList(effective) };
  });
}
