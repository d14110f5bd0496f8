// Several devices' interrupts in one guest as one list of sources, so that
// fireInRounds can fire any subset and one guest command reads every count:
// the reference devices' MSI-X vectors and queues (their driver's debugfs)
// and any other driver's interrupts by name (/proc/interrupts).
import type { ExecutionContext } from 'ava';
import { fireInRounds } from '../../src/lab/rounds.ts';
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

  /**
   * Fires the named parts' interrupts `rounds` times each, in rounds, and
   * checks that each was counted exactly that often and that nothing else
   * counted anything.
   */
  async fireExactly(t: ExecutionContext, labels: string[], rounds: number): Promise<void> {
    const fired = new Set(this.of(...labels));
    const { received } = await fireInRounds({ indexes: [...fired], rounds, fire: (k) => this.fire(k), counts: () => this.counts() });
    const wrong = this.sources.flatMap((s, k) => {
      const want = fired.has(k) ? rounds : 0;
      return received[k] === want ? [] : [`${s.label}: ${received[k]} (expected ${want})`];
    });
    t.deepEqual(wrong, [], `fired ${labels.join(', ')} ${rounds} times each`);
  }
}
