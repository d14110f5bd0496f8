// Fault rules as data: what event they match, what they do to it, and when
// they apply. The same JSON travels over the control socket and lives in
// scenario scripts; `parseRule` checks it and says what is wrong.
import { Command, errnoByName } from '../protocol/index.ts';
import { IRQ_KINDS, isIrqKind, type IrqKind } from '../irq/events.ts';

export type IrqAction =
  | 'drop' // the interrupt never leaves the device
  | { delay: number } // leaves after this many ms (in order with its kind/index)
  | { duplicate: number; gapMs?: number } // leaves 1 + n times, copies gapMs apart
  | 'ignore-mask' // leaves even while masked
  | { misroute: { address?: bigint; data?: number; vector?: number } } // wrong message / wrong vector
  | 'stuck-pending'; // the pending bit is not cleared on delivery: fires again at every unmask

export type RegionAction = 'all-ones' | { value: number } | 'ignore' | 'late' | { late: number };
export type CommandAction = { error: number } | { delay: number } | 'close';
export type DmaAction = 'drop' | 'corrupt' | { delay: number }; // corrupt: the first byte moved is inverted

export type Match =
  | { on: 'irq'; kind?: IrqKind; index?: number }
  | { on: 'read' | 'write'; region: number; offset?: number; length?: number }
  | { on: 'command'; command: number }
  | { on: 'dma'; direction?: 'read' | 'write' };

export interface When {
  /** Apply to at most this many matching events, then expire. */
  count?: number;
  /** Let this many matching events pass first. */
  skip?: number;
  /** Apply with this probability (0..1), drawn from a PRNG seeded with `seed`. */
  probability?: number;
  seed?: number;
  /** Active between these times, ms after the rule was added. */
  fromMs?: number;
  toMs?: number;
}

export type FaultRule = Match & When & { action: IrqAction | RegionAction | CommandAction | DmaAction; id?: string };

export class RuleError extends Error {}


function num(v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+(\.\d+)?)$/i.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) throw new RuleError(`${what} must be a number in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

function int(v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = num(v, what, min, max);
  if (!Number.isInteger(n)) throw new RuleError(`${what} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

function commandOf(v: unknown): number {
  if (typeof v === 'string') {
    const name = v.toUpperCase().replace(/^VFIO_USER_/, '');
    const code = (Command as Record<string, number>)[name];
    if (code === undefined) throw new RuleError(`unknown command "${v}"; one of ${Object.keys(Command).join(', ')}`);
    return code;
  }
  return int(v, 'command', 1, 0xffff);
}

function errnoOf(v: unknown): number {
  if (typeof v === 'string' && !/^\d+$/.test(v)) {
    const e = errnoByName(v);
    if (e === undefined) throw new RuleError(`unknown errno "${v}": a Linux errno name (EIO, EINVAL, EBUSY, ETIMEDOUT...) or a number 1..4095`);
    return e;
  }
  return int(v, 'errno', 1, 4095);
}

function irqAction(a: unknown): IrqAction {
  if (a === 'drop' || a === 'ignore-mask' || a === 'stuck-pending') return a;
  if (a === 'duplicate') return { duplicate: 1 };
  if (typeof a === 'object' && a !== null) {
    const o = a as Record<string, unknown>;
    if ('delay' in o) return { delay: int(o.delay, 'delay (ms)', 0, 3_600_000) };
    if ('duplicate' in o) {
      const d: { duplicate: number; gapMs?: number } = { duplicate: int(o.duplicate, 'duplicate', 1, 1000) };
      if (o.gapMs !== undefined) d.gapMs = int(o.gapMs, 'gapMs', 0, 60_000);
      return d;
    }
    if ('misroute' in o) {
      const m = (o.misroute ?? {}) as Record<string, unknown>;
      const out: { address?: bigint; data?: number; vector?: number } = {};
      if (m.address !== undefined) out.address = BigInt(m.address as string | number | bigint);
      if (m.data !== undefined) out.data = int(m.data, 'misroute data', 0, 0xffffffff);
      if (m.vector !== undefined) out.vector = int(m.vector, 'misroute vector', 0, 2047);
      if (out.address === undefined && out.data === undefined && out.vector === undefined) out.data = 0;
      return { misroute: out };
    }
  }
  throw new RuleError(`interrupt action must be drop, {delay: ms}, duplicate, {duplicate: n}, ignore-mask, {misroute: {...}} or stuck-pending; got ${JSON.stringify(a)}`);
}

/** Checks a rule given as plain data (JSON, a script) and returns it normalised. */
export function parseRule(input: unknown): FaultRule {
  if (typeof input !== 'object' || input === null) throw new RuleError('a fault rule is an object with "on" and "action"');
  const r = input as Record<string, unknown>;
  const when: When = {};
  if (r.count !== undefined) when.count = int(r.count, 'count', 1);
  if (r.skip !== undefined) when.skip = int(r.skip, 'skip');
  if (r.probability !== undefined) when.probability = num(r.probability, 'probability', 0, 1);
  if (r.seed !== undefined) when.seed = int(r.seed, 'seed', 0, 0xffffffff);
  if (r.fromMs !== undefined) when.fromMs = int(r.fromMs, 'fromMs');
  if (r.toMs !== undefined) when.toMs = int(r.toMs, 'toMs');
  const id = r.id === undefined ? undefined : String(r.id);
  switch (r.on) {
    case 'irq': {
      if (r.kind !== undefined && !isIrqKind(r.kind)) throw new RuleError(`irq kind must be one of ${IRQ_KINDS.join(', ')}, got ${JSON.stringify(r.kind)}`);
      const m: FaultRule = { on: 'irq', action: irqAction(r.action), ...when, id };
      if (r.kind !== undefined) m.kind = r.kind as IrqKind;
      if (r.index !== undefined) m.index = int(r.index, 'index', 0, 65535);
      return m;
    }
    case 'read':
    case 'write': {
      const a = r.action;
      let action: RegionAction;
      if (r.on === 'read' && a === 'all-ones') action = a;
      else if (r.on === 'read' && typeof a === 'object' && a !== null && 'value' in a) action = { value: int((a as { value: unknown }).value, 'value', 0, 0xffffffff) };
      else if (r.on === 'write' && (a === 'ignore' || a === 'late')) action = a;
      else if (r.on === 'write' && typeof a === 'object' && a !== null && 'late' in a) action = { late: int((a as { late: unknown }).late, 'late (ms)', 0, 3_600_000) };
      else throw new RuleError(r.on === 'read' ? 'a read rule does all-ones or {value: n}' : 'a write rule does ignore, late (held until a read of the device) or {late: ms} (and at most ms)');
      const m: FaultRule = { on: r.on, region: int(r.region, 'region', 0, 8), action, ...when, id };
      if (r.offset !== undefined) m.offset = int(r.offset, 'offset');
      if (r.length !== undefined) m.length = int(r.length, 'length', 1);
      return m;
    }
    case 'command': {
      const a = r.action as Record<string, unknown> | string;
      let action: CommandAction;
      if (a === 'close') action = a;
      else if (typeof a === 'object' && a !== null && 'error' in a) action = { error: errnoOf(a.error) };
      else if (typeof a === 'object' && a !== null && 'delay' in a) action = { delay: int(a.delay, 'delay (ms)', 0, 3_600_000) };
      else throw new RuleError('a command rule does {error: errno}, {delay: ms} or close');
      return { on: 'command', command: commandOf(r.command), action, ...when, id };
    }
    case 'dma': {
      const a = r.action as unknown;
      let action: DmaAction;
      if (a === 'drop' || a === 'corrupt') action = a;
      else if (typeof a === 'object' && a !== null && 'delay' in a) action = { delay: int((a as { delay: unknown }).delay, 'delay (ms)', 0, 3_600_000) };
      else throw new RuleError('a dma rule does drop, corrupt or {delay: ms}');
      if (r.direction !== undefined && r.direction !== 'read' && r.direction !== 'write') throw new RuleError('dma direction is read or write');
      return { on: 'dma', action, ...when, id, ...(r.direction ? { direction: r.direction as 'read' | 'write' } : {}) };
    }
    default:
      throw new RuleError(`"on" must be irq, read, write, command or dma; got ${JSON.stringify(r.on)}`);
  }
}

/** One line for people: "irq ims 3: drop (count 1)". */
export function describeRule(r: FaultRule): string {
  let what: string;
  if (r.on === 'irq') what = `irq ${r.kind ?? 'any'}${r.index !== undefined ? ` ${r.index}` : ''}`;
  else if (r.on === 'read' || r.on === 'write') what = `${r.on} region ${r.region}${r.offset !== undefined ? `+0x${r.offset.toString(16)}` : ''}`;
  else if (r.on === 'command') what = `command ${Object.entries(Command).find(([, v]) => v === r.command)?.[0] ?? r.command}`;
  else what = `dma${'direction' in r && r.direction ? ` ${r.direction}` : ''}`;
  const a = r.action;
  const action = typeof a === 'string' ? a : JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
  const when = [r.count !== undefined && `count ${r.count}`, r.skip && `skip ${r.skip}`, r.probability !== undefined && `p=${r.probability}`,
    r.fromMs !== undefined && `from ${r.fromMs} ms`, r.toMs !== undefined && `to ${r.toMs} ms`].filter(Boolean).join(', ');
  return `${what}: ${action}${when ? ` (${when})` : ''}`;
}
