// Poll mode: after handling what arrived, a connection keeps trying its
// socket without blocking for a while before it goes back to the event loop.
// A message that arrives meanwhile is read at once, without the wake-up of a
// sleeping thread (on a VM without halt polling, tens of us when the CPU
// has to be woken). The window adapts the way KVM's halt polling does: it
// grows while messages keep coming within the longest window, and drops to
// zero when the traffic stops, so an idle server spends no CPU.
import { performance } from 'node:perf_hooks';

/** The longest window a connection may poll for, us. */
export const MAX_POLL_US = 10_000;
/** The first window after a drop to zero, us (then doubled while it helps). */
export const GROW_START_US = 8;
/** The environment variable that gives every server a poll window (tests, scripts). */
export const POLL_ENV = 'IRQLAB_POLL_US';

/** now, in us (a monotonic clock; the origin does not matter). */
export const nowUs = (): number => performance.now() * 1000;

/** A poll window as a person or a script gave it: an integer number of us, 0 (off) to MAX_POLL_US. */
export function checkPollUs(value: unknown, what = 'pollUs'): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_POLL_US) {
    throw new RangeError(`${what} wants a whole number of microseconds from 0 (off) to ${MAX_POLL_US}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** IRQLAB_POLL_US, checked; 0 when it is not set. */
export function pollUsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[POLL_ENV];
  return v === undefined || v === '' ? 0 : checkPollUs(v, POLL_ENV);
}

/** The most wakes a window stays at zero after ramps that caught nothing. */
export const MAX_BACKOFF = 64;

/**
 * How long the next spin lasts. The connection tells it when it went back to
 * the event loop (idle), when the event loop woke it (woke) and when a spin
 * caught a message (caught). The time from the last message to the next
 * decides: one that a spin of the longest window would have covered grows
 * the window (doubling from GROW_START_US); a longer one means the traffic
 * stopped, and the window drops to zero until messages come close together
 * again. A ramp that caught nothing keeps the window at zero for a while,
 * longer each time (up to MAX_BACKOFF wakes): a peer whose next message
 * waits for us to return to the event loop (a client in this very thread)
 * would otherwise cost a window per message.
 */
export class PollWindow {
  /** us the next spin lasts; 0: do not spin. */
  windowUs: number;
  private idleSince = -1;
  private caughtAny = false;
  private skip = 0;
  private backoff = 1;

  constructor(readonly maxUs: number) {
    this.windowUs = maxUs;
  }

  /** The connection went back to the event loop after its last message (the spin, if any, found nothing more). */
  idle(at: number): void {
    this.idleSince = at;
  }

  /** A spin found a message. */
  caught(): void {
    this.caughtAny = true;
    this.backoff = 1;
  }

  /** The event loop woke the connection: adapt to how long it waited there. */
  woke(at: number): void {
    if (this.idleSince < 0) return;
    const gap = at - this.idleSince + this.windowUs;
    this.idleSince = -1;
    if (gap > this.maxUs) {
      if (this.windowUs > 0 && !this.caughtAny) {
        this.skip = this.backoff;
        this.backoff = Math.min(MAX_BACKOFF, this.backoff * 2);
      }
      this.windowUs = 0;
      this.caughtAny = false;
    } else if (this.skip > 0) {
      this.skip--;
    } else if (this.windowUs < this.maxUs) {
      this.windowUs = Math.min(this.maxUs, Math.max(GROW_START_US, this.windowUs * 2));
    }
  }
}
