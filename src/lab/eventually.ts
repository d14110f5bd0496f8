// Waiting for a condition with a deadline, the way tests and scenarios wait
// on a loaded machine: poll until it holds and fail saying what did not
// happen, rather than sleep a fixed time and count afterwards.

export interface PollOptions {
  /** Give up after this long (default 2000 ms). */
  timeoutMs?: number;
  /** Time between readings (default 5 ms). */
  intervalMs?: number;
}

/**
 * Reads until `ok(value)` holds or the deadline passes; returns the last
 * reading and whether it passed (for callers that report the value).
 */
export async function poll<T>(read: () => T | Promise<T>, ok: (value: T) => boolean, opts: PollOptions = {}): Promise<{ value: T; ok: boolean }> {
  const end = Date.now() + (opts.timeoutMs ?? 2000);
  for (;;) {
    const value = await read();
    if (ok(value)) return { value, ok: true };
    if (Date.now() >= end) return { value, ok: false };
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 5));
  }
}

/** Polls `cond` until it holds; throws "timed out after N ms waiting for WHAT" when it never does. */
export async function eventually(what: string, cond: () => boolean | Promise<boolean>, opts: PollOptions | number = {}): Promise<void> {
  const o = typeof opts === 'number' ? { timeoutMs: opts } : opts;
  if (!(await poll(cond, (v) => v, o)).ok) throw new Error(`timed out after ${o.timeoutMs ?? 2000} ms waiting for ${what}`);
}
