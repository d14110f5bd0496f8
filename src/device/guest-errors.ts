// Guest errors: what QEMU calls LOG_GUEST_ERROR -- software driving the
// device in a way the hardware does not allow -- but named and countable.
// The device carries on (a bad guest never stops it); each error is counted
// by kind, kept among the last few, reported as an event (traces), and
// logged rate-limited: the first few of each kind, then one summary line per
// interval for the ones left out, so a guest that repeats a mistake a million
// times costs a handful of log lines.

/** The kinds, with what each means (the text `irqlab ctl stats` and the README use). */
export const GUEST_ERROR_KINDS = {
  'ims-torn-write': "a live (unmasked) IMS slot's message rewritten piece by piece: the device could send half old, half new",
  'ims-bad-message': 'an IMS slot sent, unmasked, with a message address outside the MSI window (or none)',
  'ims-stale-pending': "an IMS slot's message cleared (the slot freed) while it still holds an interrupt, which its next owner then receives",
  'decode-off': 'a BAR accessed while its decoding is off in the command register',
  'access-size': "an access that breaks a register map's width or alignment rules",
  'read-only': 'a write to a read-only register',
  'irq-index': 'an interrupt index software programmed (MSI-X or MSI vector, IMS slot, INTx pin) that does not exist',
  'device-rule': "a rule of the device's own (a queue's depth...)",
} as const;

export type GuestErrorKind = keyof typeof GUEST_ERROR_KINDS;

export interface GuestErrorRecord {
  kind: GuestErrorKind;
  message: string;
  /** Date.now() when it happened. */
  at: number;
}

export interface GuestErrorSummary {
  total: number;
  /** Counts by kind; kinds that never happened are left out. */
  counts: Partial<Record<GuestErrorKind, number>>;
  /** The last few, oldest first. */
  recent: GuestErrorRecord[];
}

export interface GuestErrorLogOptions {
  /** Lines logged per kind before the rest are summarised (default 10). */
  firstN?: number;
  /** How often a summary of the ones left out is logged, ms (default 5000). */
  intervalMs?: number;
  /** How many recent errors are kept (default 16). */
  keep?: number;
}

export class GuestErrors {
  private readonly counts = new Map<GuestErrorKind, number>();
  private readonly logged = new Map<GuestErrorKind, number>();
  private readonly suppressed = new Map<GuestErrorKind, number>();
  private readonly recentList: GuestErrorRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private total = 0;
  private readonly firstN: number;
  private readonly intervalMs: number;
  private readonly keep: number;

  /** `log` gets the lines worth logging (the first of each kind, then summaries). */
  constructor(private readonly log: (line: string) => void, opts: GuestErrorLogOptions = {}) {
    this.firstN = opts.firstN ?? 10;
    this.intervalMs = opts.intervalMs ?? 5000;
    this.keep = opts.keep ?? 16;
  }

  /** Counts one; logs it unless its kind already had its first N lines. */
  record(kind: GuestErrorKind, message: string): void {
    this.total++;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.recentList.push({ kind, message, at: Date.now() });
    if (this.recentList.length > this.keep) this.recentList.shift();
    const n = this.logged.get(kind) ?? 0;
    if (n < this.firstN) {
      this.logged.set(kind, n + 1);
      this.log(`guest error (${kind}): ${message}${n + 1 === this.firstN ? ` [further ${kind} errors are summarised every ${this.intervalMs / 1000} s]` : ''}`);
      return;
    }
    this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
    this.timer ??= setTimeout(() => this.summarise(), this.intervalMs).unref();
  }

  /** Logs one line per kind for the errors left out since the last summary. */
  summarise(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [kind, n] of this.suppressed) {
      let last: GuestErrorRecord | undefined;
      for (const r of this.recentList) if (r.kind === kind) last = r;
      this.log(`guest error (${kind}): ${n} more not logged${last ? `; the last: ${last.message}` : ''}`);
    }
    this.suppressed.clear();
  }

  snapshot(): GuestErrorSummary {
    return { total: this.total, counts: Object.fromEntries(this.counts), recent: this.recentList.slice() };
  }

  /** Forgets counts and recent errors (pending summaries are logged first); logging starts afresh. */
  clear(): GuestErrorSummary {
    const s = this.snapshot();
    this.summarise();
    this.counts.clear();
    this.logged.clear();
    this.recentList.length = 0;
    this.total = 0;
    return s;
  }
}
