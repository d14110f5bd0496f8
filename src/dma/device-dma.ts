// The device's own memory accesses (IMS slot reads, message writes, MSI-X
// table probes, a device model's DMA) on their way to the client's memory.
// Hooks see each one first and may drop, damage or hold it: fault rules
// today (src/faults/access.ts). The client's memory splits long transfers
// into pieces it survives (dma-space.ts).
//
// PCIe ordering lives here too: a posted write has no completion, and a
// later interrupt must not overtake it. Over vfio-user an interrupt through
// an eventfd travels apart from the DMA messages (QEMU reads the socket on
// one thread and the eventfds on another), so whoever raises one first asks
// flush(): it resolves once every posted write issued before the call has
// landed, with one zero-length read when some have not been acknowledged
// yet, and at once (undefined) when none are outstanding.
import { Errno, VfioError } from '../protocol/index.ts';
import type { DmaSpace } from './dma-space.ts';

export type DmaDirection = 'read' | 'write';

/**
 * What a hook decides about one access: undefined lets it through; 'corrupt'
 * damages the data on the way (its first byte inverted, as a bad link or a bad
 * buffer would).
 */
export type DmaVerdict = 'drop' | 'corrupt' | { delay: number } | undefined;

export interface DeviceDmaHook {
  dma(direction: DmaDirection, address: bigint, length: number): DmaVerdict;
}

export interface DmaReadOptions {
  /** Stops the transfer between pieces (a reset cancelling a command: PciFunction.resetSignal). */
  signal?: AbortSignal;
}

export interface DmaWriteOptions extends DmaReadOptions {
  /** A posted write (the default) is handed over and not waited for; a non-posted one resolves once it has landed. */
  posted?: boolean;
}

export class DeviceDma {
  /** Consulted in order for every access; the first verdict wins. */
  readonly hooks: DeviceDmaHook[] = [];
  /** Posted writes issued but not yet handed to the client (held by a fault hook's delay). */
  private readonly issuing = new Set<Promise<void>>();
  /** Posted writes handed to the client by message, counted; `landed` of them are known to have landed. */
  private sent = 0;
  private landed = 0;
  /** Where the last posted write by message went (a flushing read goes there). */
  private lastPosted = 0n;
  /** Flushes run one after another, so each covers everything issued before it was asked for. */
  private flushes: Promise<void> = Promise.resolve();

  /** `space`: the attached client's memory, or null while no client is attached. */
  constructor(private readonly space: () => DmaSpace | null) {}

  private verdict(direction: DmaDirection, address: bigint, length: number): DmaVerdict {
    for (const h of this.hooks) {
      const v = h.dma(direction, address, length);
      if (v) return v;
    }
    return undefined;
  }

  private attached(what: string): DmaSpace {
    const space = this.space();
    if (!space) throw new VfioError(Errno.ENOTCONN, `no client attached: no memory to ${what}`);
    return space;
  }

  /** A read by the device; a dropped one fails with EIO (the device sees a completion timeout). */
  async read(address: bigint, length: number, opts: DmaReadOptions = {}): Promise<Uint8Array> {
    let space = this.attached('read');
    const v = this.hooks.length ? this.verdict('read', address, length) : undefined;
    if (v === 'drop') throw new VfioError(Errno.EIO, `fault: DMA read of 0x${address.toString(16)} dropped`);
    if (typeof v === 'object') {
      await sleep(v.delay, opts.signal);
      space = this.attached('read');
    }
    let data = space.readLocal(address, length);
    if (!data) {
      // A read's completion comes back behind every write sent before it.
      const before = this.sent;
      data = await space.read(address, length, opts.signal);
      this.landed = Math.max(this.landed, before);
    }
    return v === 'corrupt' ? corrupted(data) : data;
  }

  /** A write by the device, posted unless told otherwise; a dropped one simply never happens. */
  write(address: bigint, data: Uint8Array, opts: DmaWriteOptions = {}): Promise<void> {
    const posted = opts.posted !== false;
    let v: DmaVerdict;
    try {
      const space = this.attached('write');
      v = this.hooks.length ? this.verdict('write', address, data.length) : undefined;
      if (v === 'drop') return Promise.resolve();
      if (v === 'corrupt') data = corrupted(data);
      // Shared memory is written in place, now: visible before anything sent next.
      if (typeof v !== 'object') return space.writeLocal(address, data) ? Promise.resolve() : this.send(space, address, data, posted, opts.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    const late = sleep(v.delay, opts.signal).then(() => {
      const space = this.attached('write');
      return space.writeLocal(address, data) ? undefined : this.send(space, address, data, posted, opts.signal);
    });
    if (posted) {
      // Held by a hook: an interrupt raised meanwhile waits for it too.
      const issued = late.then(() => {}, () => {});
      this.issuing.add(issued);
      void issued.then(() => this.issuing.delete(issued));
    }
    return late;
  }

  /** By message. A posted write is on its way when this returns (its pieces are handed over at once). */
  private send(space: DmaSpace, address: bigint, data: Uint8Array, posted: boolean, signal: AbortSignal | undefined): Promise<void> {
    const before = this.sent;
    if (posted) {
      this.sent++;
      this.lastPosted = address;
      return space.writeByMessage(address, data, { posted, signal });
    }
    return space.writeByMessage(address, data, { posted, signal }).then(() => {
      this.landed = Math.max(this.landed, before);
    });
  }

  /**
   * Resolves once every posted write issued so far has landed; undefined
   * when none is outstanding (nothing to wait for). Failures are not
   * reported here: a write that fails never lands, and the wait still ends.
   */
  flush(): Promise<void> | undefined {
    if (this.issuing.size === 0 && this.landed >= this.sent) return undefined;
    const waitFor = [...this.issuing];
    this.flushes = this.flushes.then(async () => {
      await Promise.all(waitFor);
      if (this.landed >= this.sent) return;
      const space = this.space();
      const covers = this.sent;
      if (space) await space.flush(this.lastPosted).catch(() => {});
      // Landed, or lost with the client that took them: nothing is left to wait for.
      this.landed = Math.max(this.landed, covers);
    });
    return this.flushes;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A copy with its first byte inverted. */
function corrupted(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data);
  if (out.length) out[0] ^= 0xff;
  return out;
}
