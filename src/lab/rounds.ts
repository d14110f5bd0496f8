// Firing interrupts so that the guest can count every one: a local APIC
// merges an edge interrupt into one already pending on the same vector, as
// hardware does, so back-to-back fires of one vector are not all seen. Fire
// each index once per round (distinct vectors), then wait for the round to
// land before the next.

export interface RoundsOptions {
  indexes: number[];
  rounds: number;
  /** Makes the device raise index i. */
  fire: (i: number) => void;
  /** What the guest counted so far, by index. */
  counts: () => Promise<number[]>;
  /** Per round (default 8 s). */
  timeoutMs?: number;
  /**
   * Called after each round is fired, before waiting for it to land: to
   * start something in the guest while the round's interrupts are in flight
   * (a CPU going offline...).
   */
  afterFire?: (round: number) => Promise<void> | void;
  /** After `rounds`, keep firing rounds until this says done (asked after each round lands). */
  until?: () => Promise<boolean>;
  /** At most this many rounds when `until` never says done (default 1000): then it throws. */
  maxRounds?: number;
}

export interface RoundsResult {
  /** Counted by the guest, by index, during these rounds. */
  received: number[];
  /** Rounds fired (more than asked when `until` kept them going). */
  rounds: number;
}

export async function fireInRounds(o: RoundsOptions): Promise<RoundsResult> {
  const before = await o.counts();
  const timeoutMs = o.timeoutMs ?? 8000;
  const maxRounds = o.maxRounds ?? 1000;
  let r = 0;
  while (r < o.rounds || (o.until && !(await o.until()))) {
    if (r >= maxRounds) throw new Error(`still not done after ${maxRounds} rounds`);
    r++;
    for (const i of o.indexes) o.fire(i);
    await o.afterFire?.(r);
    const end = Date.now() + timeoutMs;
    for (;;) {
      const now = await o.counts();
      if (o.indexes.every((i) => now[i] >= before[i] + r)) break;
      if (Date.now() > end) {
        const missing = o.indexes.filter((i) => now[i] < before[i] + r);
        throw new Error(`round ${r}: the guest did not count interrupts for ${missing.join(', ')} within ${timeoutMs} ms`);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  // Counted at once, without a settling sleep: every round was waited for,
  // so a count above `rounds` is an extra interrupt that has arrived. (A
  // sleep here would only catch later ones on an idle machine.)
  const after = await o.counts();
  return { received: after.map((n, i) => n - before[i]), rounds: r };
}
