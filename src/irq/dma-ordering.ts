// PCIe ordering for interrupts: an MSI, an MSI-X message or an INTx
// assertion may not pass a posted write the device issued before it (PCIe
// base spec, 2.4.1: a posted request never passes another posted request).
// A driver relies on it: its handler reads the buffer the device just wrote.
//
// Over vfio-user the device's DMA writes are messages on the socket while
// MSI, MSI-X and INTx are eventfds, and QEMU serves the two on different
// threads: a signal sent right after a posted DMA_WRITE can be delivered
// first. So this hook holds an eventfd interrupt until the device's DMA says
// every posted write before it has landed (DeviceDma.flush: one zero-length
// read, only when writes are outstanding), and holds anything raised after a
// held interrupt behind it, so interrupts keep their order too. IMS messages
// are DMA writes on the same socket and are ordered already; with nothing
// held they pass straight through. With nothing outstanding every interrupt
// leaves at once, as before.
import type { IrqHook } from './hooks.ts';
import type { IrqKind, IrqOutcome } from './events.ts';

/** What the hook needs from the device's DMA (src/dma/device-dma.ts). */
export interface PostedWrites {
  /** Resolves once every posted write issued so far has landed; undefined when none is outstanding. */
  flush(): Promise<void> | undefined;
}

/** Interrupts that reach the client through an eventfd, beside the socket. */
const BESIDE_THE_SOCKET: ReadonlySet<IrqKind> = new Set(['msi', 'msix', 'intx']);

export class DmaOrdering implements IrqHook {
  /** Off: interrupts leave at once, as the client's threads happen to deliver them (to show what ordering prevents). */
  enabled = true;
  /** Interrupts held now. */
  private held = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Interrupts that waited for posted writes before them, since the device was made. */
  waited = 0;
  /** Microseconds they spent held, in all (heldUs / waited: what ordering costs an interrupt that needs it). */
  heldUs = 0;

  constructor(private readonly dma: PostedWrites, private readonly log: (line: string) => void = () => {}) {}

  raise(kind: IrqKind, index: number, fire: (ignoreMask: boolean) => IrqOutcome): IrqOutcome {
    const flush = this.enabled && BESIDE_THE_SOCKET.has(kind) ? this.dma.flush() : undefined;
    if (!flush && this.held === 0) return fire(false);
    if (flush) this.waited++;
    this.held++;
    const since = performance.now();
    this.tail = this.tail.then(() => flush).then(() => {
      this.held--;
      if (flush) this.heldUs += (performance.now() - since) * 1000;
      try {
        fire(false);
      } catch (err) {
        this.log(`${kind} ${index}: raising it after the writes before it failed: ${(err as Error).message}`);
      }
    });
    return 'queued';
  }

  /** Resolves when every interrupt held now has left (tests). */
  settled(): Promise<void> {
    return this.tail;
  }
}
