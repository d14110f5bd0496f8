// Where fault rules meet an interrupt on its way out of the device: dropped,
// delayed (in order with later interrupts of the same source), duplicated,
// sent through its mask, misrouted, or left pending; and nothing leaves a
// device that was pulled out. It is the device's IrqHook (src/irq/hooks.ts):
// every interrupt model raises through it.
import type { IrqEvent, IrqKind, IrqOutcome } from '../irq/events.ts';
import type { IrqHook, MessageOverride } from '../irq/hooks.ts';
import type { FaultEngine } from './engine.ts';

interface Line {
  /** When the last delayed interrupt of this source is due (ms, Date.now()). */
  lastDue: number;
  inFlight: number;
}

export class IrqGate implements IrqHook {
  private readonly lines = new Map<string, Line>();
  /** The device is gone (surprise removal): nothing leaves it any more. */
  removed = false;
  /** Bumped by reset(): delayed interrupts of an older generation are forgotten. */
  private generation = 0;

  constructor(private readonly faults: FaultEngine, private readonly emit: (e: IrqEvent) => void) {}

  /**
   * Raises kind/index through the fault rules; `fire` sends it (bypassing
   * masks when asked). Returns the outcome known now.
   */
  raise(kind: IrqKind, index: number, fire: (ignoreMask: boolean) => IrqOutcome): IrqOutcome {
    if (this.removed) {
      this.emit({ kind, index, outcome: 'dropped', detail: 'the device was removed' });
      return 'dropped';
    }
    const key = `${kind}:${index}`;
    const line = this.lines.get(key);
    const d = this.faults.active ? this.faults.raise(kind, index) : undefined;
    if (!d && !line) return fire(false);
    if (d?.drop) {
      this.emit({ kind, index, outcome: 'dropped', detail: 'fault: drop' });
      return 'dropped';
    }
    const copies = d?.copies ?? 1;
    const gap = d?.gapMs ?? 0;
    const delay = d?.delayMs ?? 0;
    const ignoreMask = d?.ignoreMask === true;
    if (delay === 0 && !line && (gap === 0 || copies === 1)) {
      let outcome: IrqOutcome = 'delivered';
      for (let i = 0; i < copies; i++) outcome = fire(ignoreMask);
      return outcome;
    }
    // Late, but in order: never before an earlier delayed one of this source.
    const l = line ?? { lastDue: 0, inFlight: 0 };
    this.lines.set(key, l);
    this.emit({ kind, index, outcome: 'queued', detail: delay ? `fault: delay ${delay} ms` : gap ? `fault: ${copies} copies ${gap} ms apart` : 'behind a delayed interrupt' });
    const generation = this.generation;
    for (let i = 0; i < copies; i++) {
      const due = Math.max(Date.now() + delay + i * gap, l.lastDue);
      l.lastDue = due;
      l.inFlight++;
      setTimeout(() => {
        if (generation !== this.generation) return;
        if (--l.inFlight === 0) this.lines.delete(key);
        if (!this.removed) fire(ignoreMask);
      }, due - Date.now()).unref();
    }
    return 'queued';
  }

  /** A misroute rule: the message (or vector) the interrupt leaves with instead. */
  message(kind: IrqKind, index: number): MessageOverride | undefined {
    return this.faults.active ? this.faults.misroute(kind, index) : undefined;
  }

  /** A stuck-pending rule: the pending bit stays set after delivery. */
  keepPending(kind: IrqKind, index: number): boolean {
    return this.faults.active && this.faults.stuckPending(kind, index);
  }

  /** Forgets delayed interrupts (device reset): their timers find nothing to do. */
  reset(): void {
    this.lines.clear();
    this.generation++;
  }
}
