// What happened to an interrupt the device raised: the record behind counters,
// traces and fault injection.

/** Every kind of interrupt a device here can raise: the one list (fault rules, the control channel, traces). */
export const IRQ_KINDS = ['intx', 'msi', 'msix', 'ims', 'err', 'req'] as const;
export type IrqKind = (typeof IRQ_KINDS)[number];

export function isIrqKind(v: unknown): v is IrqKind {
  return (IRQ_KINDS as readonly unknown[]).includes(v);
}

/**
 * Says what is wrong with `index` for a kind with `count` indexes (the
 * valid range), or undefined when it exists. undefined count: any
 * non-negative integer.
 */
export function badIndex(kind: IrqKind, index: number, count: number | undefined): string | undefined {
  if (Number.isInteger(index) && index >= 0 && (count === undefined || index < count)) return undefined;
  if (count === undefined) return `${kind} index ${index} is not a non-negative integer`;
  const name = kind === 'msix' ? 'MSI-X vector' : kind === 'msi' ? 'MSI vector' : kind === 'ims' ? 'IMS slot' : kind === 'intx' ? 'INTx pin' : `${kind} index`;
  return `${name} ${index} does not exist (${count === 0 ? `the device has no ${kind} interrupts` : `valid: 0..${count - 1}`})`;
}

export type IrqOutcome =
  | 'delivered' // left the device (eventfd signalled, or message written)
  | 'pending' // held: masked, pending bit set
  | 'blocked' // bus mastering is off: the message could not be sent
  | 'disabled' // the interrupt mode is not enabled
  | 'unbound' // nothing to deliver to (no eventfd / no message address)
  | 'failed' // the delivery itself failed (client error reply, overflow)
  | 'dropped' // a fault rule ate it
  | 'discarded' // held pending, then discarded by software (an IMS slot's W1C pending bit)
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
  /** An IMS slot's PASID (not carried by the message: vfio-user has no TLP prefix). */
  pasid?: number;
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
