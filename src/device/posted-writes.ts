// A device's posted-write buffer, made visible. On PCI a memory write is
// posted: the CPU's store returns before the write reaches the device, and
// nothing but a later read from the device (or a non-posted write) proves it
// has landed -- the read's completion cannot pass the writes before it. A
// device that applies every write the instant it arrives hides a driver that
// never flushes; this buffer holds chosen writes back, the way a write buffer
// on the way to the device can, and lets them land
//   - when a read of the device arrives (any region: config space or a BAR),
//     or a non-posted write (config space, I/O BARs), before that access;
//   - or after a delay of their own, if they have one;
// always in the order they were written: a posted write never passes an
// earlier one, so a write that is not held itself waits behind a held one.
//
// It is a RegionAccessHook (the seam of src/device/model.ts) with a way to
// apply a write to the model behind all hooks. Who decides what is held are
// its policies: windows of the device (PciFunction.holdPostedWrites) and
// fault rules ('late' on writes, src/faults/).
import type { RegionAccessHook } from './model.ts';

/** Hold this write: until a read (ms undefined), or at most `ms` milliseconds. */
export interface LateWrite {
  ms?: number;
  /** Why, for traces ("fault f3", "device window BAR0+0x2000"). */
  why: string;
}

export type LateWritePolicy = (region: number, offset: number, length: number) => LateWrite | undefined;

export type PostedWriteEventKind = 'held' | 'applied' | 'dropped';

export interface PostedWriteEvent {
  event: PostedWriteEventKind;
  region: number;
  offset: number;
  data: Uint8Array;
  /** held: why; applied: what let it through ("a read of region 0+0x28", "after 200 ms"); dropped: why. */
  detail: string;
  /** applied/dropped: how long it was held, ms. */
  heldMs?: number;
}

interface Held {
  region: number;
  offset: number;
  data: Uint8Array;
  at: number;
  /** Held by a policy (else it only waits behind one). */
  own: boolean;
  /** When it lands at the latest (Date.now() ms); undefined: at the next read. */
  due?: number;
}

/** Posted writes to a window of a region, held until a read of the device (or at most `ms`). */
export interface LatePostedWrites {
  region: number;
  /** The window's first byte and size (default: the whole region). */
  offset?: number;
  length?: number;
  ms?: number;
}

export interface PostedWriteHost {
  /** Applies a write to the model, behind every access hook. */
  apply(region: number, offset: number, data: Uint8Array): void;
  /** Whether writes to `region` are posted (memory BARs) or wait for a completion (config space, I/O BARs). */
  posted(region: number): boolean;
  report(e: PostedWriteEvent): void;
  /** The device's own windows changed (the buffer may have to join or leave the access hooks). */
  changed(): void;
}

export class PostedWriteBuffer implements RegionAccessHook {
  /** Who decides what is held, first answer wins. */
  readonly policies: LateWritePolicy[] = [];
  private queue: Held[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly windows: LatePostedWrites[] = [];

  constructor(private readonly host: PostedWriteHost) {
    this.policies.push((region, offset, length) => {
      const w = this.windows.find((l) => l.region === region && (l.offset === undefined || (offset < l.offset + (l.length ?? 1) && l.offset < offset + length)));
      return w ? { ms: w.ms, why: `the device holds writes to region ${region}${w.offset !== undefined ? `+0x${w.offset.toString(16)}` : ''}` } : undefined;
    });
  }

  /** Holds posted writes to a window of the device's own; returns a function that stops (what is held then lands). */
  hold(w: LatePostedWrites): () => void {
    if (!Number.isInteger(w.region) || !this.host.posted(w.region)) {
      throw new RangeError(`late posted writes: region ${w.region} is not a memory BAR of this device (writes to config space and I/O BARs are not posted)`);
    }
    for (const key of ['offset', 'length', 'ms'] as const) {
      const v = w[key];
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`late posted writes: ${key} must be a whole number >= 0, got ${JSON.stringify(v)}`);
    }
    if (w.length !== undefined && w.offset === undefined) throw new RangeError('late posted writes: length goes with offset (without offset the whole region is held)');
    const held = { ...w };
    this.windows.push(held);
    this.host.changed();
    return () => {
      const at = this.windows.indexOf(held);
      if (at >= 0) this.windows.splice(at, 1);
      this.host.changed();
    };
  }

  /** Whether writes to `region` are posted (so can be held at all). */
  isPosted(region: number): boolean {
    return this.host.posted(region);
  }

  /** Whether the device holds windows of its own. */
  get holding(): boolean {
    return this.windows.length > 0;
  }

  /** Writes held now. */
  get held(): number {
    return this.queue.length;
  }

  read(region: number, offset: number): undefined {
    if (this.queue.length) this.drain(`a read of region ${region}+0x${offset.toString(16)}`);
    return undefined;
  }

  write(region: number, offset: number, data: Uint8Array): boolean {
    if (!this.host.posted(region)) {
      if (this.queue.length) this.drain(`a non-posted write to region ${region}+0x${offset.toString(16)}`);
      return false;
    }
    let late: LateWrite | undefined;
    for (const p of this.policies) if ((late = p(region, offset, data.length))) break;
    if (!late && this.queue.length === 0) return false;
    const now = Date.now();
    // The bytes are the client's buffer (read in place): keep a copy, and report that.
    const kept = data.slice();
    this.queue.push({ region, offset, data: kept, at: now, own: late !== undefined, due: late?.ms === undefined ? undefined : now + late.ms });
    this.host.report({ event: 'held', region, offset, data: kept, detail: late ? late.why : 'behind an earlier held write' });
    if (late?.ms !== undefined) this.schedule();
    return true;
  }

  /** Applies every held write, in order (a read arrived, or the rules holding them are gone). */
  drain(why: string): void {
    this.land(this.queue.length, why);
  }

  /** Forgets held writes (device reset, client gone): they never land. */
  reset(why: string): void {
    const now = Date.now();
    for (const w of this.queue.splice(0)) this.host.report({ event: 'dropped', region: w.region, offset: w.offset, data: w.data, detail: why, heldMs: now - w.at });
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private land(n: number, why: string | ((w: Held) => string)): void {
    const now = Date.now();
    for (const w of this.queue.splice(0, n)) {
      this.host.report({ event: 'applied', region: w.region, offset: w.offset, data: w.data, detail: typeof why === 'string' ? why : why(w), heldMs: now - w.at });
      this.host.apply(w.region, w.offset, w.data);
    }
    if (this.queue.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** Lands the writes whose time has come: from the head, a due one and what waited only behind it. */
  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    let n = 0;
    while (n < this.queue.length) {
      const w = this.queue[n];
      if (w.own && (w.due === undefined || w.due > now)) break;
      n++;
    }
    this.land(n, (w) => (w.own ? `after ${w.due! - w.at} ms` : 'behind a write that landed'));
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const head = this.queue.find((w) => w.own);
    if (head?.due === undefined) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, head.due - Date.now())).unref();
  }
}
