// /proc/interrupts, parsed: the guest kernel's count of every interrupt it
// took, per CPU, with the chip, the hwirq and the name the driver gave in
// request_irq(). Works for any driver, so a device without a debugfs view of
// its own (the example counter device's counter_drv) is counted here.
import type { GuestShell } from './driver.ts';

export interface InterruptLine {
  irq: number;
  /** Per CPU, in the order of the header's CPU columns: online CPUs only. */
  perCpu: number[];
  /** The CPU column names ("CPU0", "CPU1"...). */
  cpus: string[];
  /** Over the online CPUs: what an offline CPU took is not in it (count with the driver's own counters across hotplug). */
  total: number;
  chip: string;
  /** "0-edge": the hwirq in the chip's domain, and the flow. */
  hwirq: string;
  /** The names the handlers were requested with, comma-separated. */
  name: string;
}

export class InterruptsParseError extends Error {}

/** The numbered lines (device interrupts); NMI, LOC and the other architecture rows are skipped. */
export function parseInterrupts(text: string): InterruptLine[] {
  const [header, ...lines] = text.split('\n');
  const cpus = (header ?? '').trim().split(/\s+/).filter((c) => /^CPU\d+$/.test(c));
  if (cpus.length === 0) throw new InterruptsParseError(`no CPU columns in the /proc/interrupts header "${header ?? ''}"`);
  const out: InterruptLine[] = [];
  for (const line of lines) {
    const m = /^\s*(\d+):\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/);
    const counts = f.slice(0, cpus.length).map(Number);
    if (counts.length < cpus.length || counts.some((n) => !Number.isInteger(n))) {
      throw new InterruptsParseError(`cannot parse /proc/interrupts line "${line}"`);
    }
    const [chip = '', hwirq = '', ...name] = f.slice(cpus.length);
    out.push({ irq: Number(m[1]), perCpu: counts, cpus, total: counts.reduce((a, b) => a + b, 0), chip, hwirq, name: name.join(' ') });
  }
  return out;
}

export async function readInterrupts(shell: GuestShell): Promise<InterruptLine[]> {
  const r = await shell.run('cat /proc/interrupts');
  if (r.status !== 0) throw new InterruptsParseError(`reading /proc/interrupts failed: ${r.stderr.trim() || `status ${r.status}`}`);
  return parseInterrupts(r.stdout);
}

/**
 * Counts of the interrupts requested as `${prefix}${i}`, i = 0..n-1 (e.g.
 * "counter_drv-0000:00:04.0-" and its vectors); throws if one is missing.
 */
export function countsByName(lines: InterruptLine[], prefix: string, n: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const l = lines.find((x) => x.name === `${prefix}${i}`);
    if (!l) throw new InterruptsParseError(`no interrupt named ${prefix}${i} in /proc/interrupts`);
    return l.total;
  });
}
