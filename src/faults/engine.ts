// The fault engine: the rules in force and the questions the device model
// asks it at the points where a fault can act (an interrupt leaving, a
// message being composed, a pending bit being cleared, a register access, a
// vfio-user command, a DMA). Every fault applied is counted and reported as a
// 'fault' event (traces, statistics).
import { EventEmitter } from 'node:events';
import type { IrqKind } from '../irq/events.ts';
import { parseRule, describeRule, RuleError, type FaultRule, type IrqAction, type DmaAction, type RegionAction } from './rules.ts';

/** A command rule's action once checked: the errno is a number. */
export type CommandFault = { error: number } | { delay: number } | 'close';
import { prng } from './prng.ts';

export interface FaultEvent {
  id: string;
  rule: string;
  /** What it hit: "ims 3", "REGION_READ", "BAR0+0x28"... */
  target: string;
  action: string;
}

export interface RuleStatus {
  id: string;
  /** 1 for the rule consulted first: a rule sees only the events the rules before it let through. */
  order: number;
  rule: FaultRule;
  description: string;
  /** Matching events seen, and faults applied. */
  seen: number;
  applied: number;
  expired: boolean;
}

interface Active {
  id: string;
  rule: FaultRule;
  description: string;
  addedAt: number;
  seen: number;
  applied: number;
  random: () => number;
}

export interface RaiseDecision {
  drop?: boolean;
  delayMs?: number;
  copies?: number;
  /** Time between copies, ms. */
  gapMs?: number;
  ignoreMask?: boolean;
}

export interface FaultEngineEvents {
  fault: [FaultEvent];
  /** Rules were added or removed (active may have changed). */
  change: [];
}

export class FaultEngine extends EventEmitter<FaultEngineEvents> {
  private rules: Active[] = [];
  private nextId = 1;
  /** Faults applied since creation, by rule id (kept after a rule is removed). */
  readonly totals = new Map<string, number>();
  /**
   * Checks a device adds (an index or vector it lacks): each says what is
   * wrong with a rule, or undefined; add() refuses a rule any objects to.
   */
  readonly checks: ((rule: FaultRule) => string | undefined)[] = [];

  /** False while no rule is in force: the model's fast path. */
  get active(): boolean {
    return this.rules.length > 0;
  }

  /** Whether some rule holds posted writes back ('late'): the device's write buffer must be in place. */
  get holdsWrites(): boolean {
    return this.rules.some(({ rule: r }) => r.on === 'write' && isLate(r.action));
  }

  /**
   * Adds a rule after those in force (checked again here, for callers
   * without types: a bad one throws RuleError, as does one the device
   * cannot carry out, from `checks`). Rules are consulted in the order they
   * were added, and the first that applies takes the event: a rule only
   * sees (and counts, for skip, every and count) the events the rules
   * before it let through.
   */
  add(input: FaultRule): string {
    const rule = parseRule(input);
    for (const check of this.checks) {
      const wrong = check(rule);
      if (wrong) throw new RuleError(wrong);
    }
    const id = rule.id ?? `f${this.nextId++}`;
    if (this.rules.some((r) => r.id === id)) throw new Error(`a fault rule with id ${id} exists already`);
    this.rules.push({ id, rule, description: describeRule(rule), addedAt: Date.now(), seen: 0, applied: 0, random: prng(rule.seed ?? 1) });
    this.emit('change');
    return id;
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    if (this.rules.length === before) return false;
    this.emit('change');
    return true;
  }

  clear(): void {
    if (this.rules.length === 0) return;
    this.rules = [];
    this.emit('change');
  }

  list(): RuleStatus[] {
    return this.rules.map((r, i) => ({ id: r.id, order: i + 1, rule: r.rule, description: r.description, seen: r.seen, applied: r.applied, expired: this.expired(r) }));
  }

  private expired(r: Active): boolean {
    const age = Date.now() - r.addedAt;
    return (r.rule.count !== undefined && r.applied >= r.rule.count) || (r.rule.toMs !== undefined && age >= r.rule.toMs);
  }

  /** The first rule matching `pred` that fires for this event (counting it). */
  private take(pred: (r: FaultRule) => boolean, target: string): Active | undefined {
    if (this.rules.length === 0) return undefined;
    for (const r of this.rules) {
      if (!pred(r.rule) || this.expired(r)) continue;
      const w = r.rule;
      const age = Date.now() - r.addedAt;
      if (w.fromMs !== undefined && age < w.fromMs) continue;
      r.seen++;
      if (w.skip !== undefined && r.seen <= w.skip) continue;
      if (w.every !== undefined && (r.seen - (w.skip ?? 0)) % w.every !== 0) continue;
      if (w.probability !== undefined && r.random() >= w.probability) continue;
      r.applied++;
      this.totals.set(r.id, (this.totals.get(r.id) ?? 0) + 1);
      const a = w.action;
      this.emit('fault', { id: r.id, rule: r.description, target, action: typeof a === 'string' ? a : Object.keys(a)[0] });
      return r;
    }
    return undefined;
  }

  private irqRule(kind: IrqKind, index: number, which: (a: IrqAction) => boolean): Active | undefined {
    return this.take((r) => r.on === 'irq' && (r.kind === undefined || r.kind === kind) && (r.index === undefined || r.index === index) &&
      which(r.action as IrqAction), `${kind} ${index}`);
  }

  /** The device raises an interrupt: drop, delay, duplicate, ignore its mask? */
  raise(kind: IrqKind, index: number): RaiseDecision | undefined {
    const r = this.irqRule(kind, index, (a) => a === 'drop' || a === 'ignore-mask' || (typeof a === 'object' && ('delay' in a || 'duplicate' in a)));
    if (!r) return undefined;
    const a = r.rule.action as IrqAction;
    if (a === 'drop') return { drop: true };
    if (a === 'ignore-mask') return { ignoreMask: true };
    if (typeof a === 'object' && 'delay' in a) return { delayMs: a.delay };
    if (typeof a === 'object' && 'duplicate' in a) return { copies: 1 + a.duplicate, gapMs: a.gapMs };
    return undefined;
  }

  /** The message (or vector) an interrupt leaves with: misrouted? */
  misroute(kind: IrqKind, index: number): { address?: bigint; data?: number; vector?: number } | undefined {
    const r = this.irqRule(kind, index, (a) => typeof a === 'object' && 'misroute' in a);
    return r ? (r.rule.action as { misroute: { address?: bigint; data?: number; vector?: number } }).misroute : undefined;
  }

  /** A pending interrupt was just delivered: keep its pending bit set? */
  stuckPending(kind: IrqKind, index: number): boolean {
    return this.irqRule(kind, index, (a) => a === 'stuck-pending') !== undefined;
  }

  private regionRule(on: 'read' | 'write', region: number, offset: number, length: number, which: (a: RegionAction) => boolean = () => true): Active | undefined {
    return this.take((r) => r.on === on && r.region === region && which(r.action as RegionAction) &&
      (r.offset === undefined || (offset < r.offset + (r.length ?? 1) && r.offset < offset + length)), `region ${region}+0x${offset.toString(16)}`);
  }

  /** A register read: what to return instead, if anything. */
  regionRead(region: number, offset: number, length: number): Uint8Array | undefined {
    const r = this.regionRule('read', region, offset, length);
    if (!r) return undefined;
    const a = r.rule.action as RegionAction;
    const out = new Uint8Array(length);
    if (a === 'all-ones') return out.fill(0xff);
    const v = (a as { value: number }).value;
    for (let i = 0; i < length; i++) out[i] = (v >>> (8 * (i % 4))) & 0xff;
    return out;
  }

  /** A register write: ignore it? */
  regionWriteIgnored(region: number, offset: number, length: number): boolean {
    return this.regionRule('write', region, offset, length, (a) => a === 'ignore') !== undefined;
  }

  /** A posted write: hold it back until a read of the device (or at most ms)? */
  regionWriteLate(region: number, offset: number, length: number): { ms?: number; why: string } | undefined {
    const r = this.regionRule('write', region, offset, length, isLate);
    if (!r) return undefined;
    const a = r.rule.action as RegionAction;
    return { ms: typeof a === 'object' && 'late' in a ? a.late : undefined, why: `fault ${r.id}: ${r.description}` };
  }

  /** A vfio-user command arrived: fail it, delay its reply, or close? */
  command(command: number, name: string): CommandFault | undefined {
    return this.take((r) => r.on === 'command' && r.command === command, name)?.rule.action as CommandFault | undefined;
  }

  /** The device is about to DMA. */
  dma(direction: 'read' | 'write', address: bigint): DmaAction | undefined {
    return this.take((r) => r.on === 'dma' && (r.direction === undefined || r.direction === direction), `dma ${direction} 0x${address.toString(16)}`)?.rule.action as DmaAction | undefined;
  }
}

/** A write action that holds the write back ('late', or { late: ms }). */
export function isLate(a: unknown): boolean {
  return a === 'late' || (typeof a === 'object' && a !== null && 'late' in a);
}
