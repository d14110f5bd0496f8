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
}

export interface RoundsResult {
  /** Counted by the guest, by index, during these rounds. */
  received: number[];
}

export async function fireInRounds(o: RoundsOptions): Promise<RoundsResult> {
  const before = await o.counts();
  for (let r = 1; r <= o.rounds; r++) {
    for (const i of o.indexes) o.fire(i);
    const end = Date.now() + (o.timeoutMs ?? 8000);
    for (;;) {
      const now = await o.counts();
      if (o.indexes.every((i) => now[i] >= before[i] + r)) break;
      if (Date.now() > end) {
        const missing = o.indexes.filter((i) => now[i] < before[i] + r);
        throw new Error(`round ${r}: the guest did not count interrupts for ${missing.join(', ')} within ${o.timeoutMs ?? 8000} ms`);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  // Counted at once, no settling sleep: each round was waited for, so more
  // than `rounds` now means the guest counted one twice; a duplicate the
  // device sent shows in its own counters, which tests compare exactly.
  const after = await o.counts();
  return { received: after.map((n, i) => n - before[i]) };
}
