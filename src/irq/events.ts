// What happened to an interrupt the device raised: the record behind counters,
// traces and fault injection.

/** Every kind of interrupt a device here can raise: the one list (fault rules, the control channel, traces). */
export const IRQ_KINDS = ['intx', 'msi', 'msix', 'ims', 'err', 'req'] as const;
export type IrqKind = (typeof IRQ_KINDS)[number];

export function isIrqKind(v: unknown): v is IrqKind {
  return (IRQ_KINDS as readonly unknown[]).includes(v);
}

export type IrqOutcome =
  | 'delivered' // left the device (eventfd signalled, or message written)
  | 'pending' // held: masked, pending bit set
  | 'blocked' // bus mastering is off: the message could not be sent
  | 'disabled' // the interrupt mode is not enabled
  | 'unbound' // nothing to deliver to (no eventfd / no message address)
  | 'failed' // the delivery itself failed (client error reply, overflow)
  | 'dropped' // a fault rule ate it
  | 'queued'; // decided later (after reading state by DMA); a second event tells

export interface IrqEvent {
  kind: IrqKind;
  /** Vector, slot or sub-index. */
  index: number;
  outcome: IrqOutcome;
  /** For message-signalled delivery: address and data. */
  address?: bigint;
  data?: number;
  detail?: string;
}

export class IrqCounters {
  private readonly counts = new Map<string, number>();

  record(e: IrqEvent): void {
    const key = `${e.kind}:${e.index}:${e.outcome}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  get(kind: IrqKind, index: number, outcome: IrqOutcome): number {
    return this.counts.get(`${kind}:${index}:${outcome}`) ?? 0;
  }

  total(kind: IrqKind, outcome: IrqOutcome): number {
    let n = 0;
    for (const [k, v] of this.counts) {
      const [kk, , o] = k.split(':');
      if (kk === kind && o === outcome) n += v;
    }
    return n;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  clear(): void {
    this.counts.clear();
  }
}
