// The kernel's own view of an interrupt: /sys/kernel/debug/irq/irqs/N, which
// kernels with CONFIG_GENERIC_IRQ_DEBUGFS (the lab's debug kernels) write from
// kernel/irq/debugfs.c. Each hierarchy level is a "domain:" block with its
// hwirq and chip, the parent's block nested below under "parent:"; parsed
// here into the chain from the irq's own level down to the vector domain.
import type { GuestShell } from './driver.ts';

export interface KernelIrqLevel {
  domain: string;
  hwirq: number;
  chip: string;
}

export interface KernelIrqView {
  irq: number;
  handler: string;
  /** The device the irq belongs to, when the kernel knows it. */
  device?: string;
  /** CPUs it may target, as the kernel prints them ("0-1"). */
  affinity: string;
  /** CPUs it targets now. */
  effective: string;
  /** From the irq's own level down to the root (VECTOR on x86). */
  levels: KernelIrqLevel[];
}

export const IRQ_DEBUGFS = '/sys/kernel/debug/irq';

export function parseKernelIrq(irq: number, text: string): KernelIrqView {
  const view: KernelIrqView = { irq, handler: '', affinity: '', effective: '', levels: [] };
  let level: Partial<KernelIrqLevel> | undefined;
  const close = () => {
    if (level?.domain !== undefined) view.levels.push({ domain: level.domain, hwirq: level.hwirq ?? -1, chip: level.chip ?? '' });
    level = undefined;
  };
  for (const line of text.split('\n')) {
    const m = /^\s*(\w+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value] = m;
    const v = value.trim();
    switch (key) {
      case 'handler': view.handler = v; break;
      case 'device': if (v && v !== '(null)') view.device = v; break;
      case 'affinity': view.affinity = v; break;
      case 'effectiv': view.effective = v; break;
      case 'domain': close(); level = { domain: v }; break;
      case 'hwirq': if (level) level.hwirq = Number(v); break;
      case 'chip': if (level && level.chip === undefined) level.chip = v; break;
      default: break;
    }
  }
  close();
  return view;
}

/** Whether the guest kernel has the irq debugfs (GENERIC_IRQ_DEBUGFS). */
export async function hasIrqDebugfs(shell: GuestShell): Promise<boolean> {
  return (await shell.run(`test -d ${IRQ_DEBUGFS}/irqs`)).status === 0;
}

export async function readKernelIrq(shell: GuestShell, irq: number): Promise<KernelIrqView> {
  const r = await shell.run(`cat ${IRQ_DEBUGFS}/irqs/${irq}`);
  if (r.status !== 0) throw new Error(`cannot read ${IRQ_DEBUGFS}/irqs/${irq}: ${r.stderr.trim() || `status ${r.status}`}`);
  return parseKernelIrq(irq, r.stdout);
}
