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
