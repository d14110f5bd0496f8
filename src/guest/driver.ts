// The guest side of the reference device as the irqlab guest module shows it
// in debugfs (/sys/kernel/debug/irqlab/<bdf>/, formats documented in
// qemu/guest/irqlab_debugfs.c): what it built, per queue and per vector, and a
// control file; and its logical functions in sysfs
// (/sys/bus/pci/devices/<bdf>/lfunc/, parsed by lfunc.ts). Parsed into plain
// objects for tests and people.
import { parseLfuncSysfs, parseLfuncRows, createLine, type Lfunc, type LfuncIrqRow, type LfuncSpec } from './lfunc.ts';

export type { Lfunc, LfuncIrq, LfuncIrqRow, LfuncSpec } from './lfunc.ts';

/** What the driver needs from a guest: run a command, read a file. */
export interface GuestShell {
  run(cmd: string, opts?: { timeoutMs?: number }): Promise<{ status: number; stdout: string; stderr: string }>;
}

export interface DriverInfo {
  mode: 'devmem' | 'sysmem';
  queues: number;
  imsSlots: number;
  msixVectors: number;
  parentDomain: string;
  imsDomain: string;
  busmaster: boolean;
  raw: Record<string, string>;
}

export interface QueueRow {
  queue: number;
  irq: number;
  route: 'ims' | 'msix' | 'none';
  index: number;
  address: bigint;
  data: number;
  count: number;
  /** The queue's logical function (undefined: none). */
  lfunc: number | undefined;
}

export interface VectorRow {
  vector: number;
  irq: number;
  count: number;
  masked: boolean;
  /** The vector's PBA bit as the guest reads it (undefined: PBA not mapped). */
  pending: boolean | undefined;
}

export interface HierarchyRow {
  /** "lfunc0.0" (lfunc 0, interrupt 0) or "msix3". */
  name: string;
  irq: number;
  /** Domain names from the irq's own level down to the vector domain. */
  chain: string[];
  /** The same levels with their hwirq (compare with /sys/kernel/debug/irq/irqs/N). */
  levels: { domain: string; hwirq: number }[];
}

export interface LoopRun {
  op: 'storm' | 'reads' | 'pingpong';
  n: number;
  /** DB_COUNT after a storm, the ID register after reads, timeouts after pingpong. */
  value: number;
  loopNs: number;
  /** The read after a storm (it waits behind every posted write). */
  readNs: number;
}

export function parseRegs(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+) (0x[0-9a-f]+)$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export function parseRun(text: string): LoopRun | undefined {
  const m = /^op (storm|reads|pingpong) n (\d+) value (0x[0-9a-f]+) loop_ns (\d+) read_ns (\d+)/.exec(text.trim());
  if (!m) return undefined;
  return { op: m[1] as LoopRun['op'], n: Number(m[2]), value: Number(m[3]), loopNs: Number(m[4]), readNs: Number(m[5]) };
}

export const DEBUGFS_ROOT = '/sys/kernel/debug/irqlab';

export class GuestDriverError extends Error {}

function rows(text: string, header: string): string[][] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines[0]?.trim() !== header) throw new GuestDriverError(`expected header "${header}", got "${lines[0] ?? ''}"`);
  return lines.slice(1).map((l) => l.trim().split(/\s+/));
}

export function parseInfo(text: string): DriverInfo {
  const raw: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+) (.*)$/.exec(line.trim());
    if (m) raw[m[1]] = m[2];
  }
  return {
    mode: raw.mode as DriverInfo['mode'],
    queues: Number(raw.queues),
    imsSlots: Number(raw.ims_slots),
    msixVectors: Number(raw.msix_vectors),
    parentDomain: raw.parent_domain,
    imsDomain: raw.ims_domain,
    busmaster: raw.busmaster === '1',
    raw,
  };
}

export function parseQueues(text: string): QueueRow[] {
  return rows(text, 'queue irq route index addr data count lfunc').map(([q, irq, route, index, addr, data, count, lfunc]) => ({
    queue: Number(q), irq: Number(irq), route: route as QueueRow['route'], index: Number(index),
    address: BigInt(addr), data: Number(data), count: Number(count), lfunc: lfunc === '-' ? undefined : Number(lfunc),
  }));
}

export function parseMsix(text: string): VectorRow[] {
  return rows(text, 'vector irq count masked pending').map(([v, irq, count, masked, pending]) => ({
    vector: Number(v), irq: Number(irq), count: Number(count), masked: masked === '1',
    pending: pending === '-' ? undefined : pending === '1',
  }));
}

export function parseHierarchy(text: string): HierarchyRow[] {
  return text.split('\n').filter((l) => l.trim()).map((l) => {
    const m = /^(\S+) irq (\d+): (.*)$/.exec(l.trim());
    if (!m) throw new GuestDriverError(`cannot parse hierarchy line "${l}"`);
    const levels = m[3].split(' > ').map((level) => {
      const lm = /^(.*)\(hwirq (0x[0-9a-f]+)\)$/.exec(level);
      if (!lm) throw new GuestDriverError(`cannot parse level "${level}" of hierarchy line "${l}"`);
      return { domain: lm[1], hwirq: Number(lm[2]) };
    });
    return { name: m[1], irq: Number(m[2]), chain: levels.map((x) => x.domain), levels };
  });
}

export class GuestDriver {
  constructor(private readonly shell: GuestShell, readonly bdf: string) {}

  get dir(): string {
    return `${DEBUGFS_ROOT}/${this.bdf}`;
  }

  /** The device's logical functions in sysfs. */
  get lfuncDir(): string {
    return `/sys/bus/pci/devices/${this.bdf}/lfunc`;
  }

  private async cat(file: string): Promise<string> {
    const r = await this.shell.run(`cat ${this.dir}/${file}`);
    if (r.status !== 0) throw new GuestDriverError(`reading ${this.dir}/${file} failed: ${r.stderr.trim() || `status ${r.status}`}`);
    return r.stdout;
  }

  async info(): Promise<DriverInfo> {
    return parseInfo(await this.cat('info'));
  }

  async queues(): Promise<QueueRow[]> {
    return parseQueues(await this.cat('queues'));
  }

  async msix(): Promise<VectorRow[]> {
    return parseMsix(await this.cat('msix'));
  }

  async hierarchy(): Promise<HierarchyRow[]> {
    return parseHierarchy(await this.cat('hierarchy'));
  }

  /** The logical functions as sysfs shows them (lfunc/<id>/queue, irqs/<irq>/...), by id. */
  async lfuncs(): Promise<Lfunc[]> {
    // Every readable file in one command; the write-only create/destroy fail to read.
    const r = await this.shell.run(`grep -r . ${this.lfuncDir}/ 2>/dev/null; [ -d ${this.lfuncDir} ]`);
    if (r.status !== 0) throw new GuestDriverError(`${this.lfuncDir} does not exist (is irqlab.ko bound to ${this.bdf}?)`);
    return parseLfuncSysfs(r.stdout, this.lfuncDir);
  }

  /** The same interrupts as the driver's debugfs "lfuncs" shows them (slot contents, counts). */
  async lfuncIrqs(): Promise<LfuncIrqRow[]> {
    return parseLfuncRows(await this.cat('lfuncs'));
  }

  /** Creates a logical function (lfunc/create) and returns it as sysfs shows it. */
  async createLfunc(spec: LfuncSpec): Promise<Lfunc> {
    await this.writeControl('create', createLine(spec));
    const lf = (await this.lfuncs()).find((l) => l.queue === spec.queue);
    if (!lf) throw new GuestDriverError(`lfunc/create "${createLine(spec)}" succeeded but no lfunc has queue ${spec.queue}`);
    return lf;
  }

  /** Destroys logical function id (lfunc/destroy). */
  async destroyLfunc(id: number): Promise<void> {
    await this.writeControl('destroy', String(id));
  }

  private async writeControl(file: 'create' | 'destroy', line: string): Promise<void> {
    const r = await this.shell.run(`echo '${line.replace(/'/g, '')}' > ${this.lfuncDir}/${file}`);
    if (r.status !== 0) throw new GuestDriverError(`lfunc/${file} "${line}" failed: ${r.stderr.trim() || `status ${r.status}`}`);
  }

  /** The device registers as the guest reads them now. */
  async regs(): Promise<Record<string, number>> {
    return parseRegs(await this.cat('regs'));
  }

  /**
   * Runs an MMIO loop in the guest kernel: `storm` (n posted writes to the
   * doorbell, then a read of its counter) or `reads` (n register reads).
   */
  async loop(op: 'storm' | 'reads' | 'pingpong', n: number, opts: { queue?: number; timeoutMs?: number } = {}): Promise<LoopRun> {
    const args = op === 'pingpong' ? `${opts.queue ?? 0} ${n}` : `${n}`;
    const r = await this.shell.run(`echo '${op} ${args}' > ${this.dir}/ctl && cat ${this.dir}/run`, { timeoutMs: opts.timeoutMs ?? 120_000 });
    const run = parseRun(r.stdout);
    if (r.status !== 0 || !run) throw new GuestDriverError(`ctl "${op} ${n}" failed: ${r.stderr.trim() || r.stdout.trim() || `status ${r.status}`}`);
    return run;
  }

  /** One command to the driver's ctl file; throws with the kernel's error. */
  async ctl(command: string): Promise<void> {
    const r = await this.shell.run(`echo '${command.replace(/'/g, '')}' > ${this.dir}/ctl`);
    if (r.status !== 0) throw new GuestDriverError(`ctl "${command}" failed: ${r.stderr.trim() || `status ${r.status}`}`);
  }

  /** Interrupts the guest saw on queue q. */
  async queueCount(q: number): Promise<number> {
    const row = (await this.queues()).find((r) => r.queue === q);
    if (!row) throw new GuestDriverError(`queue ${q} is not in ${this.dir}/queues`);
    return row.count;
  }

  async vectorCount(v: number): Promise<number> {
    const row = (await this.msix()).find((r) => r.vector === v);
    if (!row) throw new GuestDriverError(`vector ${v} is not in ${this.dir}/msix`);
    return row.count;
  }
}
