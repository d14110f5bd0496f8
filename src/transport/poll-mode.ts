// Poll mode: after handling what arrived, a connection keeps trying its
// socket without blocking for a while before it lets the event loop sleep.
// A message that arrives meanwhile is read at once, without the wake-up of a
// sleeping thread (on a VM without halt polling, tens of us when the CPU has
// to be woken). The tries run in a setImmediate callback, giving the CPU away
// between them (sched_yield, so a client on the same CPU runs at once); a
// burst they catch is handled there and the next tries come from a new
// callback, so promises, timers and other sockets run between two reads of
// the socket exactly as without poll mode (a device whose work runs in a
// promise after its reply has done it before the next message is read).
// The window adapts the way KVM's halt polling does: it grows while messages
// keep coming within the longest window, and drops to zero when the traffic
// stops, so an idle server spends no CPU.
import { performance } from 'node:perf_hooks';
import { yieldCpu } from '../../ffi/index.ts';

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

/**
 * A connection's poll mode: the window, and the tries while it is open. The
 * connection says when the socket was reported readable and when it has
 * handled a burst; `tryRead` reads the socket once without blocking (true
 * when bytes came, handled by then); `canSpin` says whether trying makes
 * sense now (not while a handler's promise is pending or reading is paused:
 * those need the event loop, not the socket).
 */
export class PollLoop {
  readonly window: PollWindow;
  private spinning = false;
  private deadline = 0;
  private immediate: NodeJS.Immediate | null = null;

  constructor(maxUs: number, private readonly canSpin: () => boolean, private readonly tryRead: () => boolean) {
    this.window = new PollWindow(maxUs);
  }

  get maxUs(): number {
    return this.window.maxUs;
  }

  /** The socket was reported readable. True when that happened while spinning (a wake-up spared). */
  readable(): boolean {
    if (this.spinning) {
      this.window.caught();
      return true;
    }
    this.window.woke(nowUs());
    return false;
  }

  /** A burst was handled and answered: try the socket for the window, from the next turn of the event loop. */
  handled(): void {
    const t = nowUs();
    if (this.window.windowUs === 0) {
      this.stop(t, true);
      return;
    }
    this.deadline = t + this.window.windowUs;
    this.spinning = true;
    this.immediate ??= setImmediate(this.turn);
  }

  /** The connection is closing: no more tries. */
  close(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    this.spinning = false;
  }

  private readonly turn = (): void => {
    this.immediate = null;
    if (!this.spinning) return;
    for (;;) {
      const t = nowUs();
      if (t >= this.deadline || !this.canSpin()) {
        this.stop(t, t >= this.deadline);
        return;
      }
      yieldCpu();
      if (this.tryRead()) {
        // Caught: handled in this callback; the next try comes from a new
        // one, after the promises and the event loop's other work.
        this.window.caught();
        if (this.spinning && !this.immediate) this.stop(nowUs(), false);
        return;
      }
    }
  };

  /** `timedOut`: the window passed with nothing new (the gap to the next message tells the window how to adapt). */
  private stop(t: number, timedOut: boolean): void {
    this.spinning = false;
    if (timedOut) this.window.idle(t);
  }
}
