// Legacy INTx: a level-triggered wire. The device asserts it until the cause
// is cleared; the Interrupt Status bit in the status register follows the
// level; the Interrupt Disable bit in the command register keeps it from
// reaching the interrupt controller. Through vfio the wire becomes an eventfd
// that is automatically masked when signalled, and the client unmasks it
// (SET_IRQS ACTION_UNMASK) once the guest has serviced it (its EOI).
//
// A pulse is what an endpoint with no cause register to clear sends (assert,
// deassert a moment later): one signal. Raised while the line is masked
// (the guest has not finished with the last one) it is latched, shown in
// Interrupt Status, and sent once at the unmask: never lost, never repeated.
import { IRQ_INFO_EVENTFD, IRQ_INFO_MASKABLE, IRQ_INFO_AUTOMASKED } from '../protocol/index.ts';
import { IrqLines, signalOutcome } from './irq-lines.ts';
import type { IrqSource } from './set-irqs.ts';
import type { IrqEvent, IrqOutcome } from './events.ts';
import type { IrqHook } from './hooks.ts';

/** What INTx needs from the function it belongs to (command and status registers). */
export interface IntxHost {
  /** Interrupt Disable in the command register. */
  disabled(): boolean;
  /** Interrupt Status in the status register follows the level. */
  setStatus(asserted: boolean): void;
  emit(e: IrqEvent): void;
  hook: IrqHook;
}

export class Intx implements IrqSource {
  readonly lines: IrqLines;
  readonly infoFlags = IRQ_INFO_EVENTFD | IRQ_INFO_MASKABLE | IRQ_INFO_AUTOMASKED;
  private level = false;
  /** The device wants the line up (assert() called, deassert() not yet): the level once the assertion leaves. */
  private asserting = false;
  /** vfio's automask: set when signalled, cleared by the client's unmask. */
  private masked = false;
  /** A pulse that arrived while masked, sent at the unmask. */
  private latched = false;

  constructor(readonly count: 0 | 1, private readonly host: IntxHost) {
    this.lines = new IrqLines(count);
  }

  get asserted(): boolean {
    return this.level;
  }

  private get disabled(): boolean {
    return this.host.disabled();
  }

  assert(): void {
    if (this.count === 0) return;
    this.asserting = true;
    this.host.hook.raise('intx', 0, () => {
      // Deasserted while the hook held the assertion: it still left, in
      // order (a pulse); the line is not left up.
      if (!this.asserting) return this.pulseNow();
      this.level = true;
      this.host.setStatus(true);
      this.evaluate(true);
      return 'delivered';
    });
  }

  deassert(): void {
    this.asserting = false;
    this.level = false;
    this.host.setStatus(false);
  }

  /**
   * Edge-like: one interrupt, delivered once even if the line is masked at
   * this moment (latched, sent at the unmask). With Interrupt Disable set
   * in the command register the function may not assert INTx at all (PCI
   * 3.0, 6.2.2): that pulse is lost ('disabled').
   */
  pulse(): IrqOutcome {
    if (this.count === 0) return 'unbound';
    return this.host.hook.raise('intx', 0, () => this.pulseNow());
  }

  private pulseNow(): IrqOutcome {
    let outcome: IrqOutcome;
    let detail: string | undefined;
    if (this.disabled) {
      outcome = 'disabled';
      detail = 'INTx disabled in the command register: the pulse is lost';
    } else if (this.masked) {
      this.latched = true;
      this.host.setStatus(true);
      outcome = 'pending';
      detail = 'masked: latched until the client unmasks';
    } else {
      outcome = this.signal();
    }
    this.host.emit({ kind: 'intx', index: 0, outcome, detail });
    return outcome;
  }

  /** One signal on the eventfd; vfio masks the line until the client unmasks it. */
  private signal(): IrqOutcome {
    const r = this.lines.signal(0);
    if (r === 'sent') this.masked = true;
    return signalOutcome(r);
  }

  /** Signals the eventfd if the line is up and nothing holds it. */
  private evaluate(report: boolean): void {
    if (!this.level) return;
    if (this.disabled) {
      if (report) this.host.emit({ kind: 'intx', index: 0, outcome: 'pending', detail: 'INTx disabled in the command register' });
      return;
    }
    if (this.masked) {
      if (report) this.host.emit({ kind: 'intx', index: 0, outcome: 'pending', detail: 'masked until the client unmasks' });
      return;
    }
    this.host.emit({ kind: 'intx', index: 0, outcome: this.signal() });
  }

  /** The command register changed: clearing Interrupt Disable lets a held level through. */
  commandWritten(): void {
    this.evaluate(false);
  }

  loopback(): void {
    this.lines.signal(0);
  }

  mask(): void {
    this.masked = true;
  }

  unmask(): void {
    this.masked = false;
    const latched = this.dropLatch();
    // One signal covers the latched pulse and a level that is still up; a
    // pulse latched before INTx was disabled is lost like any other then.
    if (latched && !this.disabled) this.host.emit({ kind: 'intx', index: 0, outcome: this.signal(), detail: 'latched pulse' });
    else this.evaluate(false);
  }

  /** Forgets a latched pulse (Interrupt Status back to the level); says whether there was one. */
  private dropLatch(): boolean {
    if (!this.latched) return false;
    this.latched = false;
    this.host.setStatus(this.level);
    return true;
  }

  disable(): void {
    this.masked = false;
    this.dropLatch();
  }

  reset(): void {
    this.level = false;
    this.asserting = false;
    this.masked = false;
    this.latched = false;
  }

  detach(): void {
    this.lines.releaseAll();
    this.masked = false;
    this.dropLatch();
  }
}
