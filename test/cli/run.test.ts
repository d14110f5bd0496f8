// irqlab run with any device: a scenario for a device of one's own (exported
// by the scenario, or named on the command line), --trace and --control, and
// nothing left behind on any way out (bad arguments, a device that throws,
// QEMU that cannot start, a signal). Each run gets its own TMPDIR, where the
// testbed's sockets and QEMU's files live, and must leave nothing there.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { irqlabBin } from '../helpers/spawn-serve.ts';
import { readTrace } from '../../src/trace/index.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const INDEX = join(ROOT, 'src/index.ts');
const COUNTER = join(ROOT, 'examples/counter-device.ts');

/** What is in the run's TMPDIR besides tsx's compile cache (tsx-UID). */
const leftovers = (tmp: string) => readdirSync(tmp).filter((n) => !/^tsx-\d+$/.test(n));

interface Run { code: number | null; signal: NodeJS.Signals | null; out: string; err: string; ms: number }

function scratch(t: { teardown(fn: () => void): void }): { dir: string; tmp: string } {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-run-'));
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, tmp };
}

/** irqlab run ARGS with TMPDIR=tmp; `onOut` sees stdout as it comes (to send a signal). */
function run(tmp: string, args: string[], onOut?: (out: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [irqlabBin, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; onOut?.(out, (s) => p.kill(s)); });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code, signal) => resolve({ code, signal, out, err, ms: Date.now() - t0 }));
  });
}

test('a scenario for the README\'s counter device (its own device export, options.bind) passes, with --trace and --control; nothing is left behind', async (t) => {
  const { dir, tmp } = scratch(t);
  const trace = join(dir, 'run.trace');
  const control = join(dir, 'control.sock');
  const r = await run(tmp, [join(ROOT, 'examples/scenarios/counter-every-other.ts'), '--trace', trace, '--control', control]);
  t.is(r.code, 0, `${r.out}\n${r.err}`);
  t.regex(r.out, /the guest counted 6, 3, 6, 6\n/);
  t.regex(r.out, /\] PASS\n/);
  t.regex(r.out, /control socket: \S+control\.sock/);
  t.false(existsSync(control), 'the control socket is gone');
  t.deepEqual(leftovers(tmp), [], 'no socket, temp dir or QEMU file left');
  const faults = [];
  for await (const rec of readTrace(trace)) if (rec.kind === 'fault') faults.push(rec);
  t.is(faults.length, 3, 'the three drops, in the trace');
});

test('a bad --kernel is refused at once with the kernels there are: no hang, no socket', async (t) => {
  const { tmp } = scratch(t);
  const r = await run(tmp, [join(ROOT, 'examples/scenarios/counter-every-other.ts'), '--kernel', '9.9']);
  t.is(r.code, 2);
  t.regex(r.err, /--kernel 9\.9: unknown kernel '9\.9': the lab has 6\.12, 7\.3.*; or give the path of a bzImage/);
  t.notRegex(r.err, /module/);
  t.is(r.out, '', 'nothing started');
  t.deepEqual(leftovers(tmp), []);
});

test('a scenario\'s own kernel is checked as well; bad paths are refused before anything starts', async (t) => {
  const { dir, tmp } = scratch(t);
  const s = join(dir, 'old-kernel.ts');
  writeFileSync(s, "export const options = { kernel: '5.4' };\nexport default async function () {}\n");
  const r = await run(tmp, [s, COUNTER]);
  t.is(r.code, 2);
  t.regex(r.err, /--kernel 5\.4: unknown kernel '5\.4'/);
  const c = await run(tmp, [s, COUNTER, '--control', join(dir, 'no', 'c.sock')]);
  t.regex(c.err, /--control \S+: the directory \S+no does not exist/);
  const typo = join(dir, 'typo.ts');
  writeFileSync(typo, "export const option = { kernel: '7.3' };\nexport default async function () {}\n");
  const y = await run(tmp, [typo]);
  t.is(y.code, 1);
  t.regex(y.err, /exports "option": did you mean "options"\?/);
  t.deepEqual(leftovers(tmp), []);
});

test('a device factory that throws is reported with the user\'s file and line; nothing started', async (t) => {
  const { dir, tmp } = scratch(t);
  const s = join(dir, 'throws.ts');
  writeFileSync(s, [
    `import { PciFunction } from ${JSON.stringify(INDEX)};`,
    'export const device = (): PciFunction => {',
    "  throw new Error('no such board');",
    '};',
    'export default async function () {}',
    '',
  ].join('\n'));
  const r = await run(tmp, [s]);
  t.is(r.code, 1);
  t.regex(r.err, /the device factory of \S+throws\.ts's device export threw: no such board \(at \S+throws\.ts:3:\d+\)/);
  t.deepEqual(leftovers(tmp), []);
});

test('QEMU that cannot start: servers, sockets and temp dirs go with it', async (t) => {
  const { dir, tmp } = scratch(t);
  const notAKernel = join(dir, 'bzImage');
  writeFileSync(notAKernel, 'not a kernel');
  const s = join(dir, 'never.ts');
  writeFileSync(s, "export default async function () { throw new Error('never runs'); }\n");
  const r = await run(tmp, [s, COUNTER, '--kernel', notAKernel]);
  t.is(r.code, 1, r.out);
  t.regex(r.err, /QEMU/);
  t.notRegex(r.out, /never runs/);
  t.deepEqual(leftovers(tmp), []);
});

test('SIGTERM while a scenario runs on a device named on the command line: the guest, servers and sockets are stopped', async (t) => {
  const { dir, tmp } = scratch(t);
  const control = join(dir, 'c.sock');
  const s = join(dir, 'waits.ts');
  writeFileSync(s, [
    `import { scenario, type PciFunction } from ${JSON.stringify(INDEX)};`,
    'export default scenario<PciFunction>(async ({ device, log, sleep }) => {',
    "  log(`running against ${device.spec.ids.vendor.toString(16)}:${device.spec.ids.device.toString(16)}`);",
    '  await sleep(600_000);',
    '});',
    '',
  ].join('\n'));
  let sent = false;
  const r = await run(tmp, [s, COUNTER, '--control', control], (out, kill) => {
    if (!sent && /running against f1ab:2/.test(out)) {
      sent = true;
      kill('SIGTERM');
    }
  });
  t.true(sent, r.out + r.err);
  t.is(r.code, 143, `${r.out}\n${r.err}`);
  t.regex(r.out, /SIGTERM: stopping the guest and the servers/);
  t.false(existsSync(control));
  t.deepEqual(leftovers(tmp), []);
});
