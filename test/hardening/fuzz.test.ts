// The server under a mutation fuzzer (cases from fuzz.ts), in this process for
// speed and as `irqlab serve` in a child process, where a crash is a dead
// process and leaks show in /proc. For every case:
// - the server is alive, and logged no internal error (an exception that was
//   not a deliberate error reply);
// - every complete message the server owes a reply (a command without
//   NO_REPLY) gets exactly one, in order, with its id and command; replies are
//   well formed (an error reply is a bare header with an errno); nothing else
//   is answered;
// - the connection is closed if and only if a message size was outside
//   16..max (the framing itself is bad), after the replies owed before it;
// - afterwards a fresh valid request works: on the same connection when it is
//   still open, otherwise on a new one.
// At the end, with every client gone, the server holds the descriptors it held
// before the first client, no DMA window is still mapped, and (child) its RSS
// is back near where it was after warming up.
//
// IRQLAB_FUZZ_ITERATIONS=N cases per server (default 2000; `make fuzz N=...`),
// IRQLAB_FUZZ_SEED=S replays a run (the seed is in every test title and failure),
// IRQLAB_FUZZ_KNOWN_BUGS=1 also generates inputs that hit bugs already reported.
import test from 'ava';
import { randomInt } from 'node:crypto';
import { createInterface } from 'node:readline';
import { createEventFd, createMemFd, closeFd, closeFds, openFdCount } from '../../ffi/index.ts';
import {
  Command, FLAG_ERROR, HEADER_SIZE, MsgType, MSG_TYPE_MASK, Region, frame, encodeRegionAccess, encodeVersion,
  commandName, errnoName, type Header,
} from '../../src/protocol/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import { defaultLimits } from '../../src/device/model.ts';
import { startServer } from '../helpers/server.ts';
import { spawnServe } from '../helpers/spawn-serve.ts';
import { poll } from '../helpers/eventually.ts';
import { pipe, pwrite, shutdownWrite } from '../helpers/native.ts';
import { procStats, fdTargets, settle, type ProcStats } from '../helpers/proc-stats.ts';
import {
  generateCase, frameStream, padding, owesReply, concat, describeCase, caseSeed,
  type FuzzCase, type FdSpec, type GenOptions, type Frame,
} from './fuzz.ts';

const ITERATIONS = Number(process.env.IRQLAB_FUZZ_ITERATIONS ?? 2000);
const RUN_SEED = process.env.IRQLAB_FUZZ_SEED !== undefined ? Number(process.env.IRQLAB_FUZZ_SEED) >>> 0 : randomInt(2 ** 32);
const CHILD_SEED = caseSeed(RUN_SEED, -2);
const KNOWN_BUGS = process.env.IRQLAB_FUZZ_KNOWN_BUGS === '1';
/** Session churn: a graceful disconnect and a new client every so many cases. */
const RECONNECT_EVERY = 250;
/** What the server accepts (src/server/session.ts): max_data_xfer_size + 4096. */
const MAX_MESSAGE = Math.max(64 * 1024, defaultLimits.maxDataXferSize + 4096);
const CONFIG_ID = 0x0001f1ab;
const SENTINEL_ID = 0xffff;
const VERSION_ID = 0xfffe;
/**
 * RSS allowance between the warmed-up server and the end of the run. V8 keeps
 * heap pages it grew into (it returns them lazily, and only after major GCs
 * that an idle server may not run), glibc keeps freed native buffers
 * (receive/control/scratch buffers of closed connections) in its arenas
 * without trimming, and JIT code grows as rarer paths get optimised. Measured:
 * 85-110 MiB throughout 200k cases. A leak of 250 bytes per case would
 * exceed the allowance in such a run; the samples in the log show a trend.
 */
const RSS_SLACK_KB = 40 * 1024;

const layout = (() => {
  const d = new ImsQueueDevice();
  return { msixCap: d.caps.msix!, pcieCap: d.caps.pcie! };
})();
const genOpts: GenOptions = { layout, maxMessageSize: MAX_MESSAGE, knownBugs: KNOWN_BUGS };

/** A server to fuzz: where it listens and how it is doing. */
interface Target {
  socket: string;
  /** Why the server is gone, if it is. */
  dead(): string | undefined;
  /** Log lines of handler failures that were not deliberate error replies. */
  internalErrors: string[];
  logTail(): string[];
}

interface SeenReply {
  header: Header;
  payloadLength: number;
  payload?: Uint8Array;
}

class Failure extends Error {}

function makeFds(specs: FdSpec[]): number[] {
  return specs.map((f) => {
    switch (f.kind) {
      case 'eventfd':
        return createEventFd();
      case 'memfd': {
        const size = f.size ?? 4096;
        const fd = createMemFd('irqlab-fuzz', size);
        for (const i of f.init ?? []) pwrite(fd, i.bytes, i.at);
        return fd;
      }
      default: {
        const [r, w] = pipe();
        closeFd(f.kind === 'pipe-read' ? w : r);
        return f.kind === 'pipe-read' ? r : w;
      }
    }
  });
}

const immediate = () => new Promise<void>((r) => setImmediate(r));

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Failure(`${what}: nothing within ${ms} ms`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

class Runner {
  client: RawClient | null = null;
  private replies: SeenReply[] = [];
  private waiter: { count: number; resolve(): void } | null = null;
  private internalSeen = 0;
  readonly stats = {
    cases: 0, messages: 0, replies: 0, framingCloses: 0, cutCloses: 0, fresh: 0, reconnects: 0,
    serverRequests: 0, msis: 0, errnos: new Map<string, number>(),
  };

  constructor(private readonly target: Target, private readonly runSeed: number, private readonly name: string) {}

  private tap = (dir: 'in' | 'out', header: Header, payload: Uint8Array) => {
    if (dir !== 'in' || (header.flags & MSG_TYPE_MASK) !== MsgType.REPLY) return;
    const r: SeenReply = { header, payloadLength: payload.length, payload: header.id >= VERSION_ID ? payload.slice() : undefined };
    this.replies.push(r);
    if (this.waiter && this.replies.length >= this.waiter.count) this.waiter.resolve();
  };

  async connect(negotiate: boolean): Promise<RawClient> {
    const c = await RawClient.connect(this.target.socket, { negotiate, tap: this.tap });
    this.client = c;
    this.stats.reconnects++;
    return c;
  }

  /** Half-closes; the server sees EOF, answers what it still owes, and closes its end. */
  async disconnect(): Promise<void> {
    const c = this.client;
    if (!c) return;
    this.client = null;
    if (!c.closed) {
      // Answers already on their way go first; none may follow our EOF.
      c.closeGate();
      await immediate();
      shutdownWrite(c.fd);
      await within(c.waitClosed(), 3000, 'the server closing after our EOF');
    }
    c.close();
    this.stats.serverRequests += c.serverRequests;
    this.stats.msis += c.msis;
  }

  private fail(c: FuzzCase, why: string, expected: Frame[] = []): never {
    const dead = this.target.dead();
    if (dead && !why.startsWith('the server died')) why = `the server died (${dead}); ${why}`;
    const got = this.replies.map((r) => `#${r.header.id} ${commandName(r.header.command)}${r.header.flags & FLAG_ERROR ? ` ${errnoName(r.header.error)}` : ''}`);
    throw new Failure([
      why,
      `seed ${this.runSeed}; replay: IRQLAB_FUZZ_SEED=${RUN_SEED} IRQLAB_FUZZ_ITERATIONS=${c.index + 1} npx ava test/hardening/fuzz.test.ts --match '*${this.name}*'`,
      describeCase(c),
      `replies owed: ${expected.map((f) => `#${f.id} ${commandName(f.command)}`).join(', ') || 'none'}`,
      `replies seen: ${got.join(', ') || 'none'}`,
      'server log (last lines):',
      ...this.target.logTail().map((l) => `  ${l}`),
    ].join('\n'));
  }

  private checkServer(c: FuzzCase): void {
    const dead = this.target.dead();
    if (dead) this.fail(c, `the server died: ${dead}`);
    if (this.target.internalErrors.length > this.internalSeen) {
      const lines = this.target.internalErrors.slice(this.internalSeen);
      this.internalSeen = this.target.internalErrors.length;
      this.fail(c, `the server hit an internal error:\n${lines.join('\n')}`);
    }
  }

  private checkReplies(c: FuzzCase, expected: Frame[], extra: { id: number; command: number }[]): void {
    const want = [...expected.map((f) => ({ id: f.id, command: f.command })), ...extra];
    if (this.replies.length !== want.length) this.fail(c, `${this.replies.length} replies for ${want.length} owed`, expected);
    this.replies.forEach((r, i) => {
      const h = r.header;
      if (h.id !== want[i].id || h.command !== want[i].command) this.fail(c, `reply ${i} is #${h.id} ${commandName(h.command)}, owed #${want[i].id} ${commandName(want[i].command)}`, expected);
      if ((h.flags & ~FLAG_ERROR) !== MsgType.REPLY) this.fail(c, `reply ${i} has flags 0x${h.flags.toString(16)}`, expected);
      if (h.flags & FLAG_ERROR) {
        if (h.error === 0 || r.payloadLength !== 0) this.fail(c, `error reply ${i} carries errno ${h.error} and ${r.payloadLength} payload bytes`, expected);
        const name = errnoName(h.error);
        this.stats.errnos.set(name, (this.stats.errnos.get(name) ?? 0) + 1);
      }
    });
    this.stats.replies += this.replies.length;
  }

  /** A valid REGION_READ of the vendor/device id; on a fresh connection that never negotiated, VERSION first. */
  private async sentinel(c: FuzzCase, expected: Frame[]): Promise<{ id: number; command: number }[]> {
    const client = this.client!;
    // Replies come strictly in order: the sentinel's is the one after all
    // those owed (its id may well be used by a mutated message too).
    let owed = expected.length;
    const ask = async (): Promise<SeenReply> => {
      owed++;
      const got = new Promise<'reply'>((resolve) => { this.waiter = { count: owed, resolve: () => resolve('reply') }; });
      try {
        client.send(frame(SENTINEL_ID, Command.REGION_READ, MsgType.COMMAND, encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 })));
      } catch (err) {
        this.fail(c, `sending a valid REGION_READ after the case failed: ${(err as Error).message}`, expected);
      }
      const closed = client.waitClosed().then(() => 'closed' as const);
      let what: 'reply' | 'closed';
      try {
        what = await within(Promise.race([got, closed]), 3000, 'the reply to a valid REGION_READ after the case');
      } catch (err) {
        this.fail(c, (err as Error).message, expected);
      } finally {
        this.waiter = null;
      }
      if (what === 'closed' && this.replies.length < owed) {
        await new Promise((r) => setTimeout(r, 100)); // a dying server's exit status arrives just after its close
        this.fail(c, 'the connection closed although the framing was good', expected);
      }
      return this.replies[owed - 1];
    };
    const extra: { id: number; command: number }[] = [{ id: SENTINEL_ID, command: Command.REGION_READ }];
    let r = await ask();
    if (r.header.flags & FLAG_ERROR && c.fresh) {
      // The case's VERSION did not survive its mutations: negotiate now.
      client.send(frame(VERSION_ID, Command.VERSION, MsgType.COMMAND, encodeVersion({ major: 0, minor: 0, json: { capabilities: { write_multiple: true } } })));
      owed++;
      extra.push({ id: VERSION_ID, command: Command.VERSION }, { id: SENTINEL_ID, command: Command.REGION_READ });
      r = await ask();
      const v = this.replies[owed - 2];
      if (v?.header.id !== VERSION_ID || v.header.flags & FLAG_ERROR) this.fail(c, 'a valid VERSION on a connection that never negotiated failed', expected);
    }
    if (r.header.id !== SENTINEL_ID || r.header.flags & FLAG_ERROR || !r.payload || new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(16, true) !== CONFIG_ID) {
      this.fail(c, `the valid REGION_READ after the case failed (${r.header.flags & FLAG_ERROR ? errnoName(r.header.error) : 'wrong reply'})`, expected);
    }
    return extra;
  }

  /** Runs one case; anything unexpected becomes a failure that describes the case. */
  async run(c: FuzzCase): Promise<void> {
    try {
      await this.runCase(c);
    } catch (err) {
      if (err instanceof Failure) throw err;
      this.fail(c, `unexpected ${(err as Error)?.stack ?? err}`);
    }
  }

  private async runCase(c: FuzzCase): Promise<void> {
    this.stats.cases++;
    if (c.fresh) {
      this.stats.fresh++;
      await this.disconnect();
      await this.connect(false);
    } else if (!this.client || this.client.closed) {
      await this.disconnect();
      await this.connect(true);
    }
    const client = this.client!;
    this.replies = [];
    // Answers to the server's DMA requests wait while we may be mid-message.
    client.closeGate();
    await immediate();

    const { framing, chunks } = c;
    const expected = framing.frames.filter(owesReply);
    this.stats.messages += framing.frames.length;

    for (const ch of chunks) {
      if (ch.pauseBefore) await immediate();
      if (client.closed) break;
      const fds = makeFds(ch.fds);
      try {
        client.send(ch.bytes, fds);
      } catch (err) {
        // The server may close while we still send after a bad size; otherwise the close check below catches it.
        if (!framing.bad) this.fail(c, `sending failed: ${(err as Error).message}`, expected);
        break;
      } finally {
        closeFds(fds);
      }
    }

    if (framing.bad) {
      this.stats.framingCloses++;
      await within(client.waitClosed(), 3000, `the close after a message size of ${framing.bad.size}`).catch((e: Error) => this.fail(c, e.message, expected));
      await this.disconnect();
      this.checkReplies(c, expected, []);
    } else if (framing.partial) {
      this.stats.cutCloses++;
      await this.disconnect().catch((e: Error) => this.fail(c, e.message, expected));
      this.checkReplies(c, expected, []);
    } else {
      client.openGate();
      const extra = await this.sentinel(c, expected);
      this.checkReplies(c, expected, extra);
    }
    this.checkServer(c);
    if (!this.client) {
      // The fresh valid request on a new connection.
      const d = await this.connect(true);
      const r = await d.request(Command.REGION_READ, encodeRegionAccess({ offset: 0n, region: Region.CONFIG, count: 4 }));
      if (new DataView(r.payload.buffer, r.payload.byteOffset).getUint32(16, true) !== CONFIG_ID) this.fail(c, 'a new connection after the case could not read the config id');
      this.replies = [];
    }
  }

  async runAll(seed: number, n: number, opts: { every?: (i: number) => Promise<void> } = {}): Promise<void> {
    for (let i = 0; i < n; i++) {
      await this.run(generateCase(seed, i, genOpts));
      if ((i + 1) % RECONNECT_EVERY === 0) await this.disconnect();
      await opts.every?.(i);
    }
    await this.disconnect();
  }

  summary(ms: number): string {
    const s = this.stats;
    const errnos = [...s.errnos].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
    return `${s.cases} cases in ${(ms / 1000).toFixed(1)} s (${Math.round(s.cases / (ms / 1000))}/s): ${s.messages} messages framed, ` +
      `${s.replies} replies (errors: ${errnos || 'none'}), ${s.framingCloses} closed on bad framing, ${s.cutCloses} cut short, ` +
      `${s.fresh} fresh sessions, ${s.reconnects} connections, ${s.serverRequests} DMA requests from the server, ${s.msis} MSIs delivered`;
  }
}

function ring(n: number) {
  const lines: string[] = [];
  return {
    push(l: string) {
      lines.push(l);
      if (lines.length > n) lines.shift();
    },
    lines,
  };
}

/** Long runs outlast ava's default timeout: about 1 ms a case, with a wide margin. */
const timeoutMs = 60_000 + ITERATIONS * 10;

test.serial(`fuzz: the server in this process (seed ${RUN_SEED}, ${ITERATIONS} cases)`, async (t) => {
  t.timeout(timeoutMs);
  const log = ring(40);
  const internalErrors: string[] = [];
  const h = startServer(undefined, {
    log: (l) => {
      log.push(l);
      if (/internal error/.test(l)) internalErrors.push(l);
    },
  });
  t.teardown(() => h.close());
  const baseFds = openFdCount();
  const runner = new Runner({ socket: h.socket, dead: () => undefined, internalErrors, logTail: () => log.lines }, RUN_SEED, 'this process');
  const t0 = Date.now();
  try {
    await runner.runAll(RUN_SEED, ITERATIONS, {
      every: async () => {
        if (!runner.client && h.server.session) throw new Failure('a session outlived its connection');
      },
    });
  } catch (err) {
    t.fail((err as Error).message);
    return;
  }
  t.log(runner.summary(Date.now() - t0));
  await poll(() => openFdCount() === baseFds && !h.server.session, (done) => done, { timeoutMs: 3000, intervalMs: 20 });
  t.is(h.server.session, null, 'no session left');
  t.is(openFdCount(), baseFds, 'open descriptors back to what they were before the first client');
  t.is(h.device.msix!.lines.assigned, 0, 'no eventfd kept from gone clients');
});

test.serial(`fuzz: irqlab serve in a child process (seed ${CHILD_SEED}, ${ITERATIONS} cases)`, async (t) => {
  t.timeout(timeoutMs);
  const served = await spawnServe(undefined);
  let dead: string | undefined;
  served.proc.once('exit', (code, sig) => { dead = `irqlab serve exited (${sig ?? `status ${code}`})`; });
  t.teardown(() => served.stop());
  const log = ring(40);
  const internalErrors: string[] = [];
  createInterface({ input: served.proc.stderr! }).on('line', (l) => {
    log.push(l);
    if (/internal error/.test(l)) internalErrors.push(l);
  });
  const pid = served.proc.pid!;
  const base = procStats(pid);
  const warmAt = Math.min(Math.max(50, Math.floor(ITERATIONS / 5)), ITERATIONS) - 1;
  let warm: ProcStats | undefined;
  const samples: string[] = [];
  const runner = new Runner({ socket: served.socket, dead: () => dead, internalErrors, logTail: () => log.lines }, CHILD_SEED, 'child process');
  const t0 = Date.now();
  try {
    await runner.runAll(CHILD_SEED, ITERATIONS, {
      every: async (i) => {
        if (i === warmAt) {
          await runner.disconnect();
          warm = await settle(pid, (s) => s.fds === base.fds && s.memfdMaps === 0);
          samples.push(`case ${i + 1}: ${Math.round(warm.rssKb / 1024)} MiB`);
        } else if ((i + 1) % Math.max(1000, Math.floor(ITERATIONS / 10)) === 0) {
          samples.push(`case ${i + 1}: ${Math.round(procStats(pid).rssKb / 1024)} MiB`);
        }
      },
    });
  } catch (err) {
    t.fail(`${(err as Error).message}\nirqlab serve stderr tail:\n${served.stderr().slice(-3000)}`);
    return;
  }
  t.log(runner.summary(Date.now() - t0));
  const end = await settle(pid, (s) => s.fds === base.fds && s.memfdMaps === 0);
  t.log(`server at start: ${base.fds} fds, ${Math.round(base.rssKb / 1024)} MiB; warmed up: ${Math.round(warm!.rssKb / 1024)} MiB; ` +
    `end: ${end.fds} fds, ${end.memfdMaps} memfd mappings, ${Math.round(end.rssKb / 1024)} MiB; RSS samples: ${samples.join(', ')}`);
  t.is(dead, undefined);
  t.is(end.fds, base.fds, `descriptors back to the baseline; open now:\n${fdTargets(pid).join('\n')}`);
  t.is(end.memfdMaps, 0, 'no DMA window still mapped');
  t.true(end.rssKb <= warm!.rssKb + RSS_SLACK_KB, `RSS ${end.rssKb} kB vs ${warm!.rssKb} kB after warm-up (+${RSS_SLACK_KB} kB allowed)`);
});

test('the fuzzer is deterministic: one seed, one case', (t) => {
  const a = generateCase(1234, 77, genOpts);
  const b = generateCase(1234, 77, genOpts);
  t.deepEqual(describeCase(a), describeCase(b));
  t.notDeepEqual(describeCase(a), describeCase(generateCase(1235, 77, genOpts)));
});

test('the framing oracle: a size outside 16..max is bad framing, a short tail is partial', (t) => {
  const ok = frame(1, Command.DEVICE_RESET, 0);
  const bad = frame(2, Command.DEVICE_RESET, 0);
  new DataView(bad.buffer).setUint32(4, 8, true);
  t.deepEqual(frameStream(concat([ok, bad]), MAX_MESSAGE).bad, { at: HEADER_SIZE, size: 8 });
  const f = frameStream(concat([ok, ok.subarray(0, 10)]), MAX_MESSAGE);
  t.is(f.frames.length, 1);
  t.is(f.partial, 10);
  t.is(padding(ok.subarray(0, 10), MAX_MESSAGE).length, 6);
  t.false(owesReply({ at: 0, id: 1, command: 1, size: 16, flags: 0x10 }));
  t.false(owesReply({ at: 0, id: 1, command: 1, size: 16, flags: 0x1 }));
  t.true(owesReply({ at: 0, id: 1, command: 1, size: 16, flags: 0x2 }));
});

