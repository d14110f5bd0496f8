// Poll mode: a server that keeps trying its socket after each message. The
// window's rules on their own, then a real server with a client in another
// process: every message handled, in order, the spin catching messages while
// traffic flows and costing no CPU once it stops.
import test from 'ava';
import { spawn } from 'node:child_process';
import { PollWindow, checkPollUs, pollUsFromEnv, GROW_START_US, MAX_POLL_US } from '../../src/transport/poll-mode.ts';
import { VfioUserServer } from '../../src/server/server.ts';
import { ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import { Region, Command } from '../../src/protocol/index.ts';
import { FLAG_NO_REPLY } from '../../src/protocol/constants.ts';
import type { Interceptor } from '../../src/server/session.ts';
import { startServer, sleep } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

test('the window grows while messages come close together and drops to zero when they stop', (t) => {
  const w = new PollWindow(100);
  t.is(w.windowUs, 100, 'a new connection polls the whole window');
  let now = 0;
  // The next message comes `us` after the last one: a spin that lasts that
  // long catches it; otherwise the connection went back to the event loop.
  const gap = (us: number) => {
    if (us <= w.windowUs) w.caught();
    else {
      w.idle(now + w.windowUs);
      w.woke(now + us);
    }
    now += us;
  };
  w.caught(); // the spins were catching messages, then the traffic stopped
  gap(5000);
  t.is(w.windowUs, 0, 'a gap past the longest window: no more spinning');
  gap(5000);
  t.is(w.windowUs, 0, 'an idle connection stays at zero');
  gap(30);
  t.is(w.windowUs, GROW_START_US, 'messages close together again: the window starts small');
  const sizes = [];
  for (let i = 0; i < 6; i++) {
    gap(90);
    sizes.push(w.windowUs);
  }
  t.deepEqual(sizes, [16, 32, 64, 100, 100, 100], 'doubling up to the longest window, no further');
});

test('ramps that catch nothing keep the window at zero for longer each time', (t) => {
  const w = new PollWindow(64);
  let now = 0;
  const zeros: number[] = [];
  // A peer that only sends once we are back in the event loop: every spin misses.
  for (let ramp = 0; ramp < 5; ramp++) {
    let z = 0;
    do {
      w.idle(now + w.windowUs);
      now += w.windowUs + 1;
      w.woke(now);
      if (w.windowUs === 0) z++;
    } while (w.windowUs !== 64 || z === 0);
    zeros.push(z);
  }
  t.true(zeros.every((z, i) => i === 0 || z > zeros[i - 1]), `wakes spent at zero per ramp: ${zeros.join(', ')}`);
});

test('a poll window is a whole number of us from 0 to the maximum, said plainly otherwise', (t) => {
  t.is(checkPollUs(0), 0);
  t.is(checkPollUs('250', '--poll-us'), 250);
  t.is(checkPollUs(MAX_POLL_US), MAX_POLL_US);
  for (const bad of [-1, 1.5, MAX_POLL_US + 1, 'fast', '', NaN]) {
    const err = t.throws(() => checkPollUs(bad, '--poll-us'));
    t.regex(err!.message, /^--poll-us wants a whole number of microseconds from 0 \(off\) to 10000, got /);
  }
  t.is(pollUsFromEnv({}), 0, 'unset: off');
  t.is(pollUsFromEnv({ IRQLAB_POLL_US: '80' }), 80);
  t.throws(() => pollUsFromEnv({ IRQLAB_POLL_US: '-5' }), { message: /IRQLAB_POLL_US wants .* got "-5"/ });
  t.throws(() => new VfioUserServer(new ImsQueueDevice(), { socketPath: '/nonexistent/x.sock', pollUs: 20000 }), { message: /pollUs wants .* got 20000/ });
});

function pacedClient(socket: string, rounds: number, pauseMs = 0): Promise<{ rounds: number; rings: number; wrong: string[]; wrongCount: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', new URL('../helpers/paced-client.ts', import.meta.url).pathname, socket, String(rounds), String(pauseMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`paced client exited ${code}: ${err}`))));
  });
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

test.serial('with a client in another process: every message handled in order, the spin catches them, and an idle server spends no CPU', async (t) => {
  const h = startServer(undefined, { pollUs: 200 });
  try {
    const r = await pacedClient(h.socket, 600, 20);
    t.deepEqual(r.wrong, [], `${r.wrongCount} wrong reads`);
    t.is(r.rings, 1800);
    await eventually('the session to end', () => h.server.session === null);
    t.true(h.logs.some((l) => /client disconnected/.test(l)));
    // Idle: the window has dropped to zero; the event loop sleeps.
    const c = await h.connect();
    await c.write16(Region.CONFIG, 4, 0x2);
    await sleep(50);
    const before = cpuMs();
    await sleep(500);
    const spent = cpuMs() - before;
    t.true(spent < 50, `the process used ${spent.toFixed(1)} ms of CPU in 500 ms of idle`);
  } finally {
    h.close();
  }
});

test.serial('the spin reads the messages of a client that keeps sending; turning poll mode off live stops it', async (t) => {
  const h = startServer(undefined, { pollUs: 500 });
  try {
    const run = pacedClient(h.socket, 2000);
    await eventually('the client to connect', () => h.server.session !== null, { timeoutMs: 10000 });
    const conn = h.server.session!.conn;
    await eventually('the spin to catch messages', () => conn.polled > 0, { timeoutMs: 20000 });
    h.server.pollUs = 0;
    t.is(conn.pollUs, 0, 'the live connection took the new setting');
    const atOff = conn.polled;
    const r = await run;
    t.deepEqual(r.wrong, []);
    t.is(conn.polled, atOff, 'no read came from a spin after poll mode was turned off');
  } finally {
    h.close();
  }
});

test.serial('promises a handler leaves behind settle before the next read of the socket is handled, as without poll mode', async (t) => {
  // Work a device finishes after its reply, three promise steps deep (a
  // command register whose command runs in a promise chain). Messages that
  // arrive together are handled in one go in either mode; but a message the
  // client sent only after it had a reply came in a later read, and must find
  // all of that work done, even when a spin caught it at once.
  let started = 0;
  let finished = 0;
  let early = 0;
  let checked = 0;
  let afterReply = false;
  const deferred: Interceptor = (_ctx, msg, next) => {
    if (afterReply) {
      checked++;
      if (finished !== started) early++;
    }
    afterReply = (msg.header.flags & FLAG_NO_REPLY) === 0;
    if (msg.header.command === Command.REGION_WRITE) {
      started++;
      void Promise.resolve().then(() => undefined).then(() => undefined).then(() => { finished++; });
    }
    return next();
  };
  const h = startServer(undefined, { pollUs: 500, interceptor: deferred });
  try {
    const run = pacedClient(h.socket, 800);
    await eventually('the client to connect', () => h.server.session !== null, { timeoutMs: 10000 });
    const conn = h.server.session!.conn;
    const r = await run;
    t.deepEqual(r.wrong, []);
    t.true(conn.polled > 0, 'the spin caught messages');
    t.true(started >= 800 * 4);
    t.true(checked >= 800 * 2, `${checked} messages followed a reply`);
    t.is(early, 0, `${early} of ${checked} messages sent after a reply were handled before the promises of the one before had settled`);
  } finally {
    h.close();
  }
});
