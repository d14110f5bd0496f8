// Logical functions of the irqlab guest module, as it shows them: in sysfs
// under the PCI device (/sys/bus/pci/devices/<bdf>/lfunc/, documented in
// qemu/guest/irqlab_lfunc_sysfs.c) and in debugfs (the "lfuncs" file,
// qemu/guest/irqlab_debugfs.c). Parsers only; GuestDriver reads the files.

export type IrqMode = 'ims' | 'msix';

/** One interrupt of a logical function, from sysfs lfunc/<id>/irqs/<irq>/. */
export interface LfuncIrq {
  irq: number;
  /** Position in the lfunc (0: the queue's completions). */
  index: number;
  mode: IrqMode;
  /** IMS slot, or MSI-X vector. */
  hwirq: number;
  /** CPUs asked for (smp_affinity_list). */
  affinity: number[];
  /** CPUs the interrupt targets now (effective_affinity_list). */
  effectiveAffinity: number[];
}

/** A logical function from sysfs lfunc/<id>/: a queue and its interrupts by index. */
export interface Lfunc {
  id: number;
  queue: number;
  irqs: LfuncIrq[];
}

/** One line of debugfs "lfuncs": an interrupt of a logical function as the driver sees it. */
export interface LfuncIrqRow {
  lfunc: number;
  queue: number;
  index: number;
  irq: number;
  mode: IrqMode;
  hwirq: number;
  /** What the slot holds as the guest reads it back (ims), or the vector's cached message (msix). */
  address: bigint;
  data: number;
  masked: boolean;
  /** Interrupts taken on this irq (for msix, the shared vector's count). */
  count: number;
  effectiveAffinity: number[];
}

export class LfuncViewError extends Error {}

/** "0-2,5" -> [0, 1, 2, 5]; "" -> []. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',').filter((p) => p !== '')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new LfuncViewError(`cannot parse CPU list "${text}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

function mode(text: string, where: string): IrqMode {
  if (text !== 'ims' && text !== 'msix') throw new LfuncViewError(`${where}: mode "${text}" is neither ims nor msix`);
  return text;
}

const IRQ_ATTRS = ['index', 'mode', 'hwirq', 'affinity', 'effective_affinity'] as const;

/**
 * Parses `grep -r . <dir>` over the lfunc directory: "path:value" lines, one
 * per readable file (the write-only create/destroy files print nothing).
 */
export function parseLfuncSysfs(text: string, dir: string): Lfunc[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const lfuncs = new Map<number, { queue?: number; irqs: Map<number, Record<string, string>> }>();
  const lf = (id: number) => lfuncs.get(id) ?? lfuncs.set(id, { irqs: new Map() }).get(id)!;
  for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
    const colon = line.indexOf(':', prefix.length);
    if (!line.startsWith(prefix) || colon < 0) throw new LfuncViewError(`unexpected line "${line}" reading ${dir}`);
    const parts = line.slice(prefix.length, colon).split('/');
    const value = line.slice(colon + 1);
    if (parts.length === 2 && parts[1] === 'queue') {
      lf(Number(parts[0])).queue = Number(value);
    } else if (parts.length === 4 && parts[1] === 'irqs' && (IRQ_ATTRS as readonly string[]).includes(parts[3])) {
      const irqs = lf(Number(parts[0])).irqs;
      const irq = Number(parts[2]);
      (irqs.get(irq) ?? irqs.set(irq, {}).get(irq)!)[parts[3]] = value;
    } else {
      throw new LfuncViewError(`unexpected file ${line.slice(0, colon)} in ${dir}`);
    }
  }
  return [...lfuncs.entries()].sort(([a], [b]) => a - b).map(([id, l]) => {
    if (l.queue === undefined) throw new LfuncViewError(`${prefix}${id}/queue is missing`);
    const irqs = [...l.irqs.entries()].map(([irq, a]) => {
      const where = `${prefix}${id}/irqs/${irq}`;
      for (const k of IRQ_ATTRS) if (a[k] === undefined) throw new LfuncViewError(`${where}/${k} is missing`);
      return {
        irq, index: Number(a.index), mode: mode(a.mode, where), hwirq: Number(a.hwirq),
        affinity: parseCpuList(a.affinity), effectiveAffinity: parseCpuList(a.effective_affinity),
      };
    }).sort((a, b) => a.index - b.index);
    irqs.forEach((q, i) => {
      if (q.index !== i) throw new LfuncViewError(`${prefix}${id}: interrupt indexes ${irqs.map((x) => x.index).join(',')} are not 0..${irqs.length - 1}`);
    });
    return { id, queue: l.queue, irqs };
  });
}

const LFUNCS_HEADER = 'lfunc queue index irq mode hwirq addr data masked count effective_affinity';

export function parseLfuncRows(text: string): LfuncIrqRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines[0]?.trim() !== LFUNCS_HEADER) throw new LfuncViewError(`expected header "${LFUNCS_HEADER}", got "${lines[0] ?? ''}"`);
  return lines.slice(1).map((l) => {
    const f = l.trim().split(/\s+/);
    if (f.length !== 11) throw new LfuncViewError(`cannot parse lfuncs line "${l}"`);
    const [lfunc, queue, index, irq, m, hwirq, addr, data, masked, count, eff] = f;
    return {
      lfunc: Number(lfunc), queue: Number(queue), index: Number(index), irq: Number(irq), mode: mode(m, 'lfuncs'),
      hwirq: Number(hwirq), address: BigInt(addr), data: Number(data), masked: masked === '1', count: Number(count),
      effectiveAffinity: parseCpuList(eff),
    };
  });
}

export interface LfuncSpec {
  queue: number;
  /** 1..4 (default 1). */
  irqs?: number;
  /** Mode of interrupt 0 (default: the module's route parameter). */
  mode?: IrqMode;
  /** IMS slot for interrupt 0 (default: the lowest free one). */
  slot?: number;
}

/** The line written to lfunc/create for a spec. */
export function createLine(spec: LfuncSpec): string {
  const words = [`queue=${spec.queue}`];
  if (spec.irqs !== undefined) words.push(`irqs=${spec.irqs}`);
  if (spec.mode !== undefined) words.push(`mode=${spec.mode}`);
  if (spec.slot !== undefined) words.push(`slot=${spec.slot}`);
  return words.join(' ');
}
