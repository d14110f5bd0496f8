// The one place an interrupt meets what lies above its model. Every model
// (MSI-X, MSI, INTx, ERR/REQ, IMS) raises through an IrqHook, the way a
// device's interrupt goes through its irq_chip: the model decides whether the
// interrupt can leave (enabled, masked, bus master); the hook decides when
// and how often it leaves. Fault injection implements it (src/faults/
// irq-gate.ts); so can ordering rules (interrupts after the DMA before them)
// or accounting. The PCI function gives every model of a device the same hook.
import type { IrqKind, IrqOutcome } from './events.ts';

/** A different message for an interrupt (through an eventfd: a different vector). */
export interface MessageOverride {
  address?: bigint;
  data?: number;
  vector?: number;
}

export interface IrqHook {
  /**
   * The model raises kind/index; `fire(ignoreMask)` sends it as the model
   * would, or through its mask. The hook calls it -- now, later, several
   * times, or never -- and returns the outcome known now.
   */
  raise(kind: IrqKind, index: number, fire: (ignoreMask: boolean) => IrqOutcome): IrqOutcome;
  /** The message the interrupt leaves with instead of its own (undefined: its own). */
  message?(kind: IrqKind, index: number): MessageOverride | undefined;
  /** A held interrupt was just delivered: keep its pending bit set, so it fires again at every unmask? */
  keepPending?(kind: IrqKind, index: number): boolean;
}

/** No hook: every interrupt leaves at once, as its model decides. */
export const directIrq: IrqHook = { raise: (_kind, _index, fire) => fire(false) };

/**
 * One hook made of a live list (outermost first): each decides when the ones
 * inside it see the interrupt; a mask ignored by any is ignored. The first
 * message override and any keepPending win. Hooks may be added to the list
 * while the device runs.
 */
export function chainIrqHooks(hooks: readonly IrqHook[]): IrqHook {
  const through = (kind: IrqKind, index: number, fire: (ignoreMask: boolean) => IrqOutcome, i: number, ignored: boolean): IrqOutcome =>
    i === hooks.length ? fire(ignored) : hooks[i].raise(kind, index, (ignoreMask) => through(kind, index, fire, i + 1, ignored || ignoreMask));
  return {
    raise: (kind, index, fire) => (hooks.length === 1 ? hooks[0].raise(kind, index, fire) : through(kind, index, fire, 0, false)),
    message: (kind, index) => {
      for (const h of hooks) {
        const m = h.message?.(kind, index);
        if (m) return m;
      }
      return undefined;
    },
    keepPending: (kind, index) => hooks.some((h) => h.keepPending?.(kind, index) === true),
  };
}
