// Several devices' interrupts in one guest as one list of sources, so that
// fireInRounds can fire any subset and one guest command reads every count:
// the reference devices' MSI-X vectors and queues (their driver's debugfs)
// and any other driver's interrupts by name (/proc/interrupts).
import type { ExecutionContext } from 'ava';
import { fireInRounds, type RoundsOptions, type RoundsResult } from '../../src/lab/rounds.ts';
import type { ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import { parseMsix, parseQueues, type GuestDriver, type GuestShell } from '../../src/guest/driver.ts';
import { countsByName, parseInterrupts } from '../../src/guest/interrupts.ts';

/** A group of interrupts of one device: how to read their counts, how to fire one. */
export interface Part {
  label: string;
  n: number;
  /** A guest command whose output parse() reads. */
  command: string;
  parse: (text: string) => number[];
  fire: (i: number) => void;
}

/** A reference device's MSI-X vectors, fired by the device, counted by irqlab.ko. */
export const msixPart = (label: string, dev: ImsQueueDevice, drv: GuestDriver): Part => ({
  label, n: dev.msix!.count, command: `cat ${drv.dir}/msix`,
  parse: (text) => parseMsix(text).map((r) => r.count), fire: (v) => dev.fireMsix(v),
});

/** A reference device's queues: one completion raises the queue's IMS interrupt. */
export const queuePart = (label: string, dev: ImsQueueDevice, drv: GuestDriver): Part => ({
  label, n: dev.numQueues, command: `cat ${drv.dir}/queues`,
  parse: (text) => parseQueues(text).map((r) => r.count), fire: (q) => void dev.complete(q, 1),
});

/** Interrupts another driver requested as `${prefix}${i}`, counted in /proc/interrupts. */
export const namedPart = (label: string, prefix: string, n: number, fire: (i: number) => void): Part => ({
  label, n, command: 'cat /proc/interrupts',
  parse: (text) => countsByName(parseInterrupts(text), prefix, n), fire,
});

const SEPARATOR = '@@irqlab-part@@';

export class Fleet {
  /** Every interrupt: its part and index; a position here is a fireInRounds index. */
  readonly sources: { part: Part; i: number; label: string }[];

  constructor(private readonly shell: GuestShell, readonly parts: Part[]) {
    this.sources = parts.flatMap((part) => Array.from({ length: part.n }, (_, i) => ({ part, i, label: `${part.label} ${i}` })));
  }

  /** Positions of the sources of the parts named. */
  of(...labels: string[]): number[] {
    return this.sources.flatMap((s, k) => (labels.includes(s.part.label) ? [k] : []));
  }

  fire(k: number): void {
    const s = this.sources[k];
    s.part.fire(s.i);
  }

  /** Every count, by position, from one guest command. */
  async counts(): Promise<number[]> {
    const r = await this.shell.run(this.parts.map((p) => p.command).join(`; echo ${SEPARATOR}; `));
    const texts = r.stdout.split(`${SEPARATOR}\n`);
    if (r.status !== 0 || texts.length !== this.parts.length) throw new Error(`reading the counts failed (status ${r.status}): ${r.stderr.trim()}`);
    return this.parts.flatMap((p, j) => {
      const c = p.parse(texts[j]);
      if (c.length !== p.n) throw new Error(`${p.label}: ${c.length} counts, expected ${p.n}`);
      return c;
    });
  }

  /** Fires the sources at `positions` in rounds (see fireInRounds); what each counted, by position. */
  fireRounds(positions: number[], rounds: number, more: Pick<RoundsOptions, 'afterFire' | 'until' | 'timeoutMs'> = {}): Promise<RoundsResult> {
    return fireInRounds({ indexes: positions, rounds, fire: (k) => this.fire(k), counts: () => this.counts(), ...more });
  }

  /** Sources whose count is not `want(position)`, as "label: got (expected n)" lines. */
  miscounted(received: number[], want: (k: number) => number): string[] {
    return this.sources.flatMap((s, k) => (received[k] === want(k) ? [] : [`${s.label}: ${received[k]} (expected ${want(k)})`]));
  }

  /**
   * Fires the sources at `positions` in rounds (at least `rounds`; more
   * while `more.until` says not done) and checks that each was counted
   * exactly once per round and that nothing else counted anything. Returns
   * the rounds fired.
   */
  async fireExactlyAt(t: ExecutionContext, positions: number[], rounds: number, more: Pick<RoundsOptions, 'afterFire' | 'until' | 'timeoutMs'> = {}): Promise<number> {
    const r = await this.fireRounds(positions, rounds, more);
    t.deepEqual(this.miscounted(r.received, (k) => (positions.includes(k) ? r.rounds : 0)), [],
      `fired ${positions.map((k) => this.sources[k].label).join(', ')} in ${r.rounds} rounds`);
    return r.rounds;
  }

  /** fireExactlyAt for every source of the parts named. */
  fireExactly(t: ExecutionContext, labels: string[], rounds: number, more: Pick<RoundsOptions, 'afterFire' | 'until' | 'timeoutMs'> = {}): Promise<number> {
    return this.fireExactlyAt(t, this.of(...labels), rounds, more);
  }
}
