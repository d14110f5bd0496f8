// Any device as the generic guest driver (irqlab_generic.ko, qemu/guest-generic/)
// shows it in debugfs, /sys/kernel/debug/irqlab_generic/<bdf>/: the interrupt
// mode it enabled, each vector's count, and one BAR access at a time through
// its poke file. Formats are documented in qemu/guest-generic/generic_debugfs.c.
import { GuestDriverError, type GuestShell } from './driver.ts';

export const GENERIC_DEBUGFS = '/sys/kernel/debug/irqlab_generic';
/** The module's file name, as `make setup` builds it for each lab kernel. */
export const GENERIC_MODULE = 'irqlab_generic.ko';

export type GenericMode = 'msix' | 'msi' | 'intx';

export interface GenericBar {
  bar: number;
  kind: 'mem' | 'io';
  start: bigint;
  size: number;
  mapped: boolean;
}

export interface GenericInfo {
  vendor: number;
  device: number;
  mode: GenericMode | 'none';
  /** Vectors enabled and requested. */
  vectors: number;
  /** Vectors the function offers in that mode (MSI-X table size, MSI capability). */
  offered: number;
  bars: GenericBar[];
}

export interface GenericVector {
  vector: number;
  irq: number;
  count: number;
}

export interface PokeResult {
  bar: number;
  offset: number;
  width: number;
  value: bigint;
  op: 'read' | 'written';
}

export function parseGenericInfo(text: string): GenericInfo {
  const info: GenericInfo = { vendor: NaN, device: NaN, mode: 'none', vectors: NaN, offered: NaN, bars: [] };
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^device ([0-9a-f]{4}):([0-9a-f]{4})$/.exec(line))) [info.vendor, info.device] = [parseInt(m[1], 16), parseInt(m[2], 16)];
    else if ((m = /^mode (msix|msi|intx|none)$/.exec(line))) info.mode = m[1] as GenericInfo['mode'];
    else if ((m = /^vectors (\d+)$/.exec(line))) info.vectors = Number(m[1]);
    else if ((m = /^offered (\d+)$/.exec(line))) info.offered = Number(m[1]);
    else if ((m = /^bar(\d) (mem|io) (0x[0-9a-f]+) (\d+)( unmapped)?$/.exec(line))) {
      info.bars.push({ bar: Number(m[1]), kind: m[2] as 'mem' | 'io', start: BigInt(m[3]), size: Number(m[4]), mapped: !m[5] });
    } else throw new GuestDriverError(`irqlab_generic info: cannot parse "${line}"`);
  }
  if (Number.isNaN(info.vendor) || Number.isNaN(info.vectors)) throw new GuestDriverError(`irqlab_generic info is incomplete: ${JSON.stringify(text)}`);
  return info;
}

export function parseGenericIrqs(text: string): GenericVector[] {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines[0] !== 'vector irq count') throw new GuestDriverError(`irqlab_generic irqs: expected the header "vector irq count", got "${lines[0] ?? ''}"`);
  return lines.slice(1).map((l) => {
    const m = /^(\d+) (-?\d+) (\d+)$/.exec(l);
    if (!m) throw new GuestDriverError(`irqlab_generic irqs: cannot parse "${l}"`);
    return { vector: Number(m[1]), irq: Number(m[2]), count: Number(m[3]) };
  });
}

export function parsePoke(text: string): PokeResult {
  const m = /^bar (\d) offset (0x[0-9a-f]+) width (\d) value (0x[0-9a-f]+) (read|written)$/.exec(text.trim());
  if (!m) throw new GuestDriverError(`irqlab_generic poke: cannot parse "${text.trim()}"`);
  return { bar: Number(m[1]), offset: Number(m[2]), width: Number(m[3]), value: BigInt(m[4]), op: m[5] as PokeResult['op'] };
}

/** The generic driver's view of one bound function. */
export class GenericDriver {
  constructor(private readonly shell: GuestShell, readonly bdf: string) {}

  get dir(): string {
    return `${GENERIC_DEBUGFS}/${this.bdf}`;
  }

  private async sh(cmd: string, what: string): Promise<string> {
    const r = await this.shell.run(cmd);
    if (r.status !== 0) throw new GuestDriverError(`${what} failed: ${r.stderr.trim() || `status ${r.status}`} (is irqlab_generic bound to ${this.bdf}?)`);
    return r.stdout;
  }

  async info(): Promise<GenericInfo> {
    return parseGenericInfo(await this.sh(`cat ${this.dir}/info`, `reading ${this.dir}/info`));
  }

  async irqs(): Promise<GenericVector[]> {
    return parseGenericIrqs(await this.sh(`cat ${this.dir}/irqs`, `reading ${this.dir}/irqs`));
  }

  /** Each vector's count, by vector. */
  async counts(): Promise<number[]> {
    return (await this.irqs()).map((v) => v.count);
  }

  /** One BAR access through the driver (a write is flushed before this returns). */
  async poke(bar: number, offset: number, width: 1 | 2 | 4 | 8, value?: number | bigint): Promise<PokeResult> {
    const line = `${bar} 0x${offset.toString(16)} ${width}${value === undefined ? '' : ` 0x${value.toString(16)}`}`;
    return parsePoke(await this.sh(`echo '${line}' > ${this.dir}/poke && cat ${this.dir}/poke`, `poke "${line}"`));
  }

  async read(bar: number, offset: number, width: 1 | 2 | 4 | 8 = 4): Promise<bigint> {
    return (await this.poke(bar, offset, width)).value;
  }

  async write(bar: number, offset: number, value: number | bigint, width: 1 | 2 | 4 | 8 = 4): Promise<void> {
    await this.poke(bar, offset, width, value);
  }

  /** "reset" (counts to zero) or "unmask" (INTx, once the function's cause is cleared). */
  async ctl(command: 'reset' | 'unmask'): Promise<void> {
    await this.sh(`echo ${command} > ${this.dir}/ctl`, `ctl "${command}"`);
  }
}
