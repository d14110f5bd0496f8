// Choosing records: by kind, by vfio-user command, by MSI/MSI-X vector or IMS
// slot, by time. A filter aimed at one kind (--command at messages, --vector
// and --slot at interrupts) narrows that kind only; without --kind it also
// selects that kind alone, so `--command REGION_READ` shows REGION_READ
// messages and nothing else, while `--kind msg,irq --command REGION_READ`
// shows those messages and every interrupt. Drop records always pass the kind
// test: a reader must know where records went missing.
import { Command } from '../protocol/constants.ts';
import { RECORD_KINDS, type TraceRecord } from './format.ts';

export interface TraceFilter {
  kinds?: ReadonlySet<string>;
  commands?: ReadonlySet<number>;
  vectors?: ReadonlySet<number>;
  slots?: ReadonlySet<number>;
  /** Microseconds since the start, inclusive. */
  from?: number;
  to?: number;
}

export interface FilterArgs {
  kind?: string;
  command?: string;
  vector?: string;
  slot?: string;
  from?: string;
  to?: string;
}

export class FilterError extends Error {}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);

/** Parses the CLI's filter options; a FilterError says which one is wrong and why. */
export function parseFilter(a: FilterArgs): TraceFilter {
  const f: TraceFilter = {};
  if (a.kind !== undefined) {
    const kinds = list(a.kind);
    const bad = kinds.filter((k) => !(RECORD_KINDS as string[]).includes(k));
    if (bad.length || kinds.length === 0) throw new FilterError(`--kind: unknown kind ${bad.join(', ') || '(none given)'}; kinds are ${RECORD_KINDS.join(', ')}`);
    f.kinds = new Set(kinds);
  }
  if (a.command !== undefined) {
    const names = list(a.command);
    if (names.length === 0) throw new FilterError('--command: no command given');
    f.commands = new Set(names.map(commandCode));
  }
  if (a.vector !== undefined) f.vectors = new Set(indexes('--vector', a.vector));
  if (a.slot !== undefined) f.slots = new Set(indexes('--slot', a.slot));
  if (a.from !== undefined) f.from = seconds('--from', a.from);
  if (a.to !== undefined) f.to = seconds('--to', a.to);
  if (f.from !== undefined && f.to !== undefined && f.from > f.to) throw new FilterError(`--from ${a.from} is after --to ${a.to}`);
  if (!f.kinds) {
    // A filter aimed at one kind selects that kind.
    const implied = new Set<string>();
    if (f.commands) implied.add('msg');
    if (f.vectors || f.slots) implied.add('irq');
    if (implied.size) f.kinds = implied;
  }
  return f;
}

/** REGION_READ, region_read, VFIO_USER_REGION_READ or 9. */
export function commandCode(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const key = name.toUpperCase().replace(/^VFIO_USER_/, '').replace(/-/g, '_');
  const code = (Command as Record<string, number>)[key];
  if (code === undefined) throw new FilterError(`--command: unknown command ${name}; commands are ${Object.keys(Command).join(', ')}`);
  return code;
}

function indexes(opt: string, s: string): number[] {
  const out = list(s).map(Number);
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 0)) throw new FilterError(`${opt} wants a number (or a list: 1,2,3), got ${s}`);
  return out;
}

function seconds(opt: string, s: string): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n) || n < 0) throw new FilterError(`${opt} wants seconds since the trace started (e.g. 1.5), got ${s}`);
  return Math.round(n * 1e6);
}

export function matches(f: TraceFilter, r: TraceRecord): boolean {
  if (r.kind === 'header') return false;
  if (f.from !== undefined && r.t < f.from) return false;
  if (f.to !== undefined && r.t > f.to) return false;
  if (f.kinds && r.kind !== 'drop' && !f.kinds.has(r.kind)) return false;
  if (r.kind === 'msg' && f.commands && !f.commands.has(r.command)) return false;
  if (r.kind === 'irq' && (f.vectors || f.slots)) {
    const isVector = r.irq === 'msix' || r.irq === 'msi';
    const isSlot = r.irq === 'ims';
    if (!((isVector && f.vectors?.has(r.index)) || (isSlot && f.slots?.has(r.index)))) return false;
  }
  return true;
}
