// Fault rules as data: what event they match, what they do to it, and when
// they apply. The same JSON travels over the control socket and lives in
// scenario scripts; `parseRule` checks it and says what is wrong: a field no
// rule of that kind has, a value out of range (echoed as given), an action
// the rule's kind does not do.
//
// Every action is declared once, in ACTIONS below: which rules may use it,
// how its value is checked, how `fault list` says it. parseRule, the word
// form (control/rule-syntax.ts) and describeRule all read that table, so an
// action added there is validated everywhere, and one added to the types
// without an entry there does not compile.
import { Command, errnoByName, errnoName } from '../protocol/index.ts';
import { IRQ_KINDS, isIrqKind, type IrqKind } from '../irq/events.ts';
import { didYouMean } from '../text/suggest.ts';

export type CommandName = keyof typeof Command;

export type IrqAction =
  | 'drop' // the interrupt never leaves the device
  | { delay: number } // leaves after this many ms (in order with its kind/index)
  | { duplicate: number; gapMs?: number } // leaves 1 + n times, copies gapMs apart
  | 'ignore-mask' // leaves even while masked
  | { misroute: { address?: bigint | number | string; data?: number; vector?: number } } // wrong message / wrong vector
  | 'stuck-pending'; // the pending bit is not cleared on delivery: fires again at every unmask

export type ReadAction = 'all-ones' | { value: number };
/** late: held in the device's write buffer until a read of the device flushes it, or at most MS ms. */
export type WriteAction = 'ignore' | 'late' | { late: number };
export type RegionAction = ReadAction | WriteAction;
/** error: an errno number or name ('EIO'); a checked rule holds the number. */
export type CommandAction = { error: number | string } | { delay: number } | 'close';
export type DmaAction = 'drop' | 'corrupt' | { delay: number }; // corrupt: the first byte moved is inverted

export interface When {
  /** Apply to at most this many matching events, then expire. */
  count?: number;
  /** Let this many matching events pass first. */
  skip?: number;
  /** After the skipped ones, apply to every Nth matching event only (the Nth, 2Nth...). */
  every?: number;
  /** Apply with this probability (0..1), drawn from a PRNG seeded with `seed` (default 1). */
  probability?: number;
  seed?: number;
  /** Active between these times, ms after the rule was added. */
  fromMs?: number;
  toMs?: number;
}

interface Common extends When {
  /** A name for the rule (default f1, f2...). */
  id?: string;
}

export interface IrqRule extends Common { on: 'irq'; kind?: IrqKind; index?: number; action: IrqAction }
export interface ReadRule extends Common { on: 'read'; region: number; offset?: number; length?: number; action: ReadAction }
export interface WriteRule extends Common { on: 'write'; region: number; offset?: number; length?: number; action: WriteAction }
/** command: a code or its name ('REGION_READ'); a checked rule holds the code. */
export interface CommandRule extends Common { on: 'command'; command: number | CommandName; action: CommandAction }
export interface DmaRule extends Common { on: 'dma'; direction?: 'read' | 'write'; action: DmaAction }

/**
 * A fault rule. Typed per kind of event, so a misspelt field or an action
 * the kind does not have is a compile error in a script; parseRule checks the
 * same at run time for JSON and the command line.
 */
export type FaultRule = IrqRule | ReadRule | WriteRule | CommandRule | DmaRule;
export type RuleOn = FaultRule['on'];
export const RULE_KINDS: readonly RuleOn[] = ['irq', 'read', 'write', 'command', 'dma'];

export class RuleError extends Error {}

/** "an irq rule", "a read rule". */
export function aRule(on: RuleOn): string {
  return `${/^[aeiou]/.test(on) ? 'an' : 'a'} ${on} rule`;
}

// ---- values ---------------------------------------------------------------

/** The value as given, for messages: "abc" stays "abc" (quoted), 12 stays 12. */
export function shown(v: unknown): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (v === undefined) return 'nothing';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

type Check<T = unknown> = (v: unknown, field: string) => T;

function num(v: unknown, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'string' && /^\s*(0x[0-9a-f]+|\d+(\.\d+)?|\.\d+)\s*$/i.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) throw new RuleError(`${field} must be a number in ${min}..${max}, got ${shown(v)}`);
  return n;
}

function int(min = 0, max = Number.MAX_SAFE_INTEGER): Check<number> {
  return (v, field) => {
    const n = num(v, field, min, max);
    if (!Number.isInteger(n)) throw new RuleError(`${field} must be an integer in ${min}..${max}, got ${shown(v)}`);
    return n;
  };
}

const ms = int(0, 3_600_000);
const u32 = int(0, 0xffffffff);

const address: Check<bigint> = (v, field) => {
  let b: bigint | undefined;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else if (typeof v === 'string' && /^\s*(0x[0-9a-f]+|\d+)\s*$/i.test(v)) b = BigInt(v.trim());
  if (b === undefined || b < 0n || b >= 1n << 64n) throw new RuleError(`${field} must be a 64-bit address (a number or "0x..."), got ${shown(v)}`);
  return b;
};

function commandOf(v: unknown, field: string): number {
  if (typeof v === 'string' && !/^\s*\d+\s*$/.test(v)) {
    const name = v.toUpperCase().replace(/^VFIO_USER_/, '');
    const code = (Command as Record<string, number>)[name];
    if (code === undefined) throw new RuleError(`unknown ${field} ${shown(v)}${didYouMean(name, Object.keys(Command))}; one of ${Object.keys(Command).join(', ')}`);
    return code;
  }
  return int(1, 0xffff)(v, field);
}

function errnoOf(v: unknown, field: string): number {
  if (typeof v === 'string' && !/^\s*\d+\s*$/.test(v)) {
    const e = errnoByName(v);
    if (e === undefined) throw new RuleError(`unknown errno ${shown(v)} for ${field}: a Linux errno name (EIO, EINVAL, EBUSY, ETIMEDOUT...) or a number 1..4095`);
    return e;
  }
  return int(1, 4095)(v, field);
}

/** Checks that an object has only the fields named; otherwise names the stray one and the valid ones. */
export function onlyFields(o: Record<string, unknown>, fields: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!fields.includes(k)) throw new RuleError(`unknown field ${shown(k)} in ${what}${didYouMean(k, fields)}; its fields are ${fields.join(', ')}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- the actions ----------------------------------------------------------

type AnyAction = IrqAction | ReadAction | WriteAction | CommandAction | DmaAction;
/** Fields of an object action besides its name ({duplicate: 2, gapMs: 5}). */
type ExtraField = 'gapMs';
type NameOf<A> = A extends string ? A : A extends object ? Exclude<keyof A & string, ExtraField> : never;
/** Every action any rule can have: the keys ACTIONS must have. */
export type ActionName = NameOf<AnyAction>;

export interface ActionDef {
  /** The kinds of rule that may use it. */
  on: readonly RuleOn[];
  /** Checks the value of the object form {name: value}; absent: only the bare name ('drop'). */
  value?: Check;
  /** The value's own fields, when it is an object ({misroute: {vector: 5}}); the word form takes them as FIELD=V. */
  valueFields?: readonly string[];
  /** Fields of the object form besides the action's name, with their checks. */
  extra?: Record<string, Check>;
  /** What the bare name means when the action also takes a value ('duplicate' is {duplicate: 1}). */
  bare?: unknown;
  /** How a person writes it: "{delay: MS}", "drop". */
  syntax: string;
  /** How `fault list` says it. */
  describe(a: Record<string, unknown>): string;
}

const misrouteValue: Check = (v, field) => {
  const m = v ?? {};
  if (!isObject(m)) throw new RuleError(`${field} must be an object with address, data and/or vector, got ${shown(v)}`);
  onlyFields(m, ['address', 'data', 'vector'], field);
  const out: { address?: bigint; data?: number; vector?: number } = {};
  if (m.address !== undefined) out.address = address(m.address, `${field}.address`);
  if (m.data !== undefined) out.data = u32(m.data, `${field}.data`);
  if (m.vector !== undefined) out.vector = int(0, 2047)(m.vector, `${field}.vector`);
  if (out.address === undefined && out.data === undefined && out.vector === undefined) out.data = 0;
  return out;
};

function misrouteText(m: { address?: bigint; data?: number; vector?: number }): string {
  const parts = [m.vector !== undefined && `vector ${m.vector}`, m.address !== undefined && `address 0x${m.address.toString(16)}`,
    m.data !== undefined && `data 0x${m.data.toString(16)}`].filter(Boolean);
  return `misroute to ${parts.join(', ')}`;
}

/** The one table of actions. */
export const ACTIONS: Record<ActionName, ActionDef> = {
  drop: { on: ['irq', 'dma'], syntax: 'drop', describe: () => 'drop' },
  delay: { on: ['irq', 'command', 'dma'], value: ms, syntax: '{delay: MS}', describe: (a) => `delay ${a.delay} ms` },
  duplicate: {
    on: ['irq'], value: int(1, 1000), extra: { gapMs: int(0, 60_000) }, bare: { duplicate: 1 },
    syntax: '{duplicate: N, gapMs?: MS}',
    describe: (a) => `duplicate ${a.duplicate}${a.gapMs ? `, copies ${a.gapMs} ms apart` : ''}`,
  },
  'ignore-mask': { on: ['irq'], syntax: 'ignore-mask', describe: () => 'ignore the mask' },
  misroute: {
    on: ['irq'], value: misrouteValue, valueFields: ['address', 'data', 'vector'], bare: { misroute: { data: 0 } },
    syntax: '{misroute: {address?, data?, vector?}}', describe: (a) => misrouteText(a.misroute as never),
  },
  'stuck-pending': { on: ['irq'], syntax: 'stuck-pending', describe: () => 'stuck pending' },
  'all-ones': { on: ['read'], syntax: 'all-ones', describe: () => 'all-ones' },
  value: { on: ['read'], value: u32, syntax: '{value: V}', describe: (a) => `reads 0x${Number(a.value).toString(16)}` },
  ignore: { on: ['write'], syntax: 'ignore', describe: () => 'ignored' },
  late: {
    on: ['write'], value: ms, bare: 'late', syntax: 'late | {late: MS}',
    describe: (a) => (a.late === undefined ? 'late (until a read flushes it)' : `late (at most ${a.late} ms, or until a read flushes it)`),
  },
  error: { on: ['command'], value: errnoOf, syntax: '{error: ERRNO}', describe: (a) => `error ${errnoName(Number(a.error))}` },
  close: { on: ['command'], syntax: 'close', describe: () => 'close the connection' },
  corrupt: { on: ['dma'], syntax: 'corrupt', describe: () => 'corrupt (first byte inverted)' },
};

/** The actions a kind of rule may have. */
export function actionsFor(on: RuleOn): [ActionName, ActionDef][] {
  return (Object.entries(ACTIONS) as [ActionName, ActionDef][]).filter(([, d]) => d.on.includes(on));
}

function actionError(on: RuleOn, a: unknown, why?: string): RuleError {
  const list = actionsFor(on).map(([, d]) => d.syntax).join(', ');
  const names = actionsFor(on).map(([n]) => n);
  const hint = typeof a === 'string' ? didYouMean(a, names) : '';
  return new RuleError(`${why ?? `unknown action ${shown(a)}${hint}`}: ${aRule(on)}'s action is one of ${list}`);
}

function parseAction(on: RuleOn, a: unknown): unknown {
  if (typeof a === 'string') {
    const def = (ACTIONS as Record<string, ActionDef | undefined>)[a];
    if (!def || !def.on.includes(on)) throw actionError(on, a, def ? `${a} is not an action of ${on} rules` : undefined);
    if (def.bare !== undefined) return structuredClone(def.bare);
    if (def.value) throw actionError(on, a, `${a} needs a value, ${def.syntax}`);
    return a;
  }
  if (!isObject(a)) throw actionError(on, a, a === undefined ? 'the rule has no action' : undefined);
  const named = Object.keys(a).filter((k) => k in ACTIONS);
  if (named.length !== 1) {
    throw actionError(on, a, named.length ? `the action ${shown(a)} names ${named.join(' and ')}: one action per rule` : `the action ${shown(a)} names no action`);
  }
  const name = named[0];
  const def = ACTIONS[name as ActionName];
  if (!def.on.includes(on)) throw actionError(on, a, `${name} is not an action of ${on} rules`);
  if (!def.value) throw actionError(on, a, `${name} takes no value: write "${name}"`);
  onlyFields(a, [name, ...Object.keys(def.extra ?? {})], `the ${name} action`);
  const out: Record<string, unknown> = { [name]: def.value(a[name], name) };
  for (const [k, check] of Object.entries(def.extra ?? {})) if (a[k] !== undefined) out[k] = check(a[k], k);
  return out;
}

/** The action's entry in ACTIONS. */
export function actionDef(a: unknown): { name: ActionName; def: ActionDef } | undefined {
  const name = (typeof a === 'string' ? a : isObject(a) ? Object.keys(a).find((k) => k in ACTIONS) : undefined) as ActionName | undefined;
  return name ? { name, def: ACTIONS[name] } : undefined;
}

// ---- rules ----------------------------------------------------------------

const WHEN: Record<keyof When, Check> = {
  count: int(1), skip: int(0), every: int(1), probability: (v, f) => num(v, f, 0, 1), seed: int(0, 0xffffffff), fromMs: int(0), toMs: int(0),
};

/** What each kind of rule matches on, with the checks of those fields. */
const MATCH: Record<RuleOn, Record<string, { check: Check; required?: boolean }>> = {
  irq: {
    kind: { check: (v, f) => { if (!isIrqKind(v)) throw new RuleError(`${f} must be one of ${IRQ_KINDS.join(', ')}, got ${shown(v)}${typeof v === 'string' ? didYouMean(v, IRQ_KINDS) : ''}`); return v; } },
    index: { check: int(0, 65535) },
  },
  read: { region: { check: int(0, 8), required: true }, offset: { check: int(0) }, length: { check: int(1) } },
  write: { region: { check: int(0, 8), required: true }, offset: { check: int(0) }, length: { check: int(1) } },
  command: { command: { check: commandOf, required: true } },
  dma: {
    direction: { check: (v, f) => { if (v !== 'read' && v !== 'write') throw new RuleError(`${f} must be read or write, got ${shown(v)}`); return v; } },
  },
};

/** Every field a rule of this kind may have, in the order people write them. */
export function ruleFields(on: RuleOn): string[] {
  return ['on', ...Object.keys(MATCH[on]), 'action', ...Object.keys(WHEN), 'id'];
}

/** Checks a rule given as plain data (JSON, a script) and returns it normalised. */
export function parseRule(input: unknown): FaultRule {
  if (!isObject(input)) throw new RuleError(`a fault rule is an object with "on" and "action", got ${shown(input)}`);
  const on = input.on;
  if (typeof on !== 'string' || !(RULE_KINDS as readonly string[]).includes(on)) {
    throw new RuleError(`"on" must be one of ${RULE_KINDS.join(', ')}; got ${shown(on)}${typeof on === 'string' ? didYouMean(on, RULE_KINDS) : ''}`);
  }
  const kind = on as RuleOn;
  onlyFields(input, ruleFields(kind), aRule(kind));
  const rule: Record<string, unknown> = { on: kind };
  for (const [field, m] of Object.entries(MATCH[kind])) {
    if (input[field] !== undefined) rule[field] = m.check(input[field], field);
    else if (m.required) throw new RuleError(`${aRule(kind)} needs ${field}`);
  }
  rule.action = parseAction(kind, input.action);
  for (const [field, check] of Object.entries(WHEN)) if (input[field] !== undefined) rule[field] = check(input[field], field);
  if (rule.fromMs !== undefined && rule.toMs !== undefined && (rule.toMs as number) <= (rule.fromMs as number)) {
    throw new RuleError(`toMs (${rule.toMs}) must be after fromMs (${rule.fromMs})`);
  }
  if (input.id !== undefined) {
    if (typeof input.id !== 'string' || !/^[\w.-]{1,64}$/.test(input.id)) throw new RuleError(`id must be a name of letters, digits, "_", "." or "-" (at most 64), got ${shown(input.id)}`);
    rule.id = input.id;
  }
  return rule as unknown as FaultRule;
}

/** One line for people: "irq ims 3: drop (skip 1, count 1)", "command REGION_READ: delay 6000 ms". */
export function describeRule(r: FaultRule): string {
  let what: string;
  if (r.on === 'irq') what = `irq ${r.kind ?? 'any'}${r.index !== undefined ? ` ${r.index}` : ''}`;
  else if (r.on === 'read' || r.on === 'write') {
    const at = r.offset !== undefined ? `+0x${r.offset.toString(16)}${r.length !== undefined && r.length > 1 ? `..0x${(r.offset + r.length - 1).toString(16)}` : ''}` : '';
    what = `${r.on} region ${r.region}${at}`;
  } else if (r.on === 'command') what = `command ${typeof r.command === 'number' ? Object.entries(Command).find(([, v]) => v === r.command)?.[0] ?? r.command : r.command}`;
  else what = `dma${r.direction ? ` ${r.direction}` : ''}`;
  const found = actionDef(r.action);
  const action = found ? found.def.describe(typeof r.action === 'string' ? {} : (r.action as Record<string, unknown>)) : shown(r.action);
  const when = [
    r.skip && `skip ${r.skip}`,
    r.every !== undefined && r.every > 1 && `every ${r.every}`,
    r.count !== undefined && `count ${r.count}`,
    r.probability !== undefined && `p=${r.probability} seed ${r.seed ?? 1}`,
    r.fromMs !== undefined && `from ${r.fromMs} ms`,
    r.toMs !== undefined && `to ${r.toMs} ms`,
  ].filter(Boolean).join(', ');
  return `${what}: ${action}${when ? ` (${when})` : ''}`;
}
