import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError, Vm, VmError } from '../../src/vm/index.ts';
import { removeStaleTempDirs } from '../../src/vm/temp-dir.ts';
import { skipWithoutLab } from './guest-checks.ts';

// Every VM of this worker, and of the child processes below, keeps its files under a
// private TMPDIR, so "nothing left behind" can be checked exactly.
const root = mkdtempSync(join(tmpdir(), 'irqlab-lc-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));

/** Our files in a private TMPDIR (tsx keeps its cache there too: not ours). */
function leftovers(tmp: string): string[] {
  return readdirSync(tmp).filter((f) => !f.startsWith('tsx-'));
}

function privateTmp(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  return dir;
}

/** Pids of processes whose command line mentions s (QEMU's mentions its sockets). */
function processesMentioning(s: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(s);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (check()) return true;
  }
  return check();
}

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'start-vm.ts');

/** Runs the fixture; `until` is the stdout line after which `then` acts on the child. */
function runFixture(mode: string, tmp: string, until: string, then?: (pid: number) => void) {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (then && out.includes(until)) {
      then(child.pid!);
      then = undefined;
    }
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, out, err })),
  );
}

if (!skipWithoutLab('lifecycle')) {
  test('a missing vfio-user socket is refused before QEMU starts, naming the fix', async (t) => {
    const tmp = privateTmp('nosocket');
    process.env.TMPDIR = tmp;
    const e = await t.throwsAsync(Vm.start({ devices: [{ socket: join(tmp, 'nobody.sock') }] }), { instanceOf: VmError });
    t.regex(e!.message, /nobody\.sock does not exist or is not a socket: start the device server before the VM/);
    t.deepEqual(readdirSync(tmp), []);
  });

  test('QEMU failing at startup is reported with its own words; nothing is left', async (t) => {
    const tmp = privateTmp('badkernel');
    const notAKernel = join(root, 'not-a-kernel');
    writeFileSync(notAKernel, 'hello\n');
    process.env.TMPDIR = tmp;
    const e = await t.throwsAsync(Vm.start({ kernel: notAKernel }), { instanceOf: VmError });
    t.regex(e!.message, /^QEMU exited with code 1 before .*: qemu: linux kernel too old/);
    t.deepEqual(readdirSync(tmp), []);
    t.deepEqual(processesMentioning(tmp), []);
  });

  test('a guest that misses the boot limit is booted again up to bootAttempts, each retry reported; then the timeout is the error', async (t) => {
    const tmp = privateTmp('retry');
    process.env.TMPDIR = tmp;
    const phases: string[] = [];
    const e = await t.throwsAsync(Vm.start({ bootTimeoutMs: 200, bootAttempts: 3, onProgress: (p) => phases.push(p.phase) }), { instanceOf: AgentError });
    t.regex(e!.message, /^the guest did not reach the agent within 0\.2 s/);
    t.is(phases.filter((p) => p === 'boot-retry').length, 2, phases.join(' '));
    t.is(phases.filter((p) => p === 'qemu-started').length, 3, 'three QEMUs, one per attempt');
    t.deepEqual(readdirSync(tmp), []);
    t.deepEqual(processesMentioning(tmp), []);
  });

  // Serial: it changes this process's environment, which the fixtures' children inherit.
  test.serial('bootAttempts and $IRQLAB_BOOT_ATTEMPTS outside 1..5 are refused, naming the value', async (t) => {
    const e = await t.throwsAsync(Vm.start({ bootAttempts: 0 }), { instanceOf: VmError });
    t.is(e!.message, 'bootAttempts must be a whole number from 1 to 5 (got 0)');
    const was = process.env.IRQLAB_BOOT_ATTEMPTS;
    process.env.IRQLAB_BOOT_ATTEMPTS = 'two';
    try {
      const env = await t.throwsAsync(Vm.start({}), { instanceOf: VmError });
      t.is(env!.message, 'IRQLAB_BOOT_ATTEMPTS must be a whole number from 1 to 5 (got "two")');
    } finally {
      if (was === undefined) delete process.env.IRQLAB_BOOT_ATTEMPTS;
      else process.env.IRQLAB_BOOT_ATTEMPTS = was;
    }
  });

  test('a script that exits without stop() leaves no QEMU and no temp files', async (t) => {
    const tmp = privateTmp('exit');
    const r = await runFixture('exit', tmp, 'ready');
    t.is(r.code, 0, r.err);
    t.regex(r.out, /^ready \d+$/m);
    t.true(await eventually(() => processesMentioning(tmp).length === 0));
    t.deepEqual(leftovers(tmp), []);
  });

  test('a script stopped by SIGTERM during boot leaves no QEMU and no temp files', async (t) => {
    const tmp = privateTmp('sigterm');
    const r = await runFixture('hang', tmp, 'qemu-started', (pid) => process.kill(pid, 'SIGTERM'));
    // The hooks clean up, then the signal's default action ends the process.
    t.is(r.signal, 'SIGTERM', r.err);
    t.true(await eventually(() => processesMentioning(tmp).length === 0));
    t.deepEqual(leftovers(tmp), []);
  });

  test('a script killed by SIGKILL takes QEMU with it; the next VM removes its temp dir', async (t) => {
    const tmp = privateTmp('sigkill');
    const r = await runFixture('hang', tmp, 'qemu-started', (pid) => process.kill(pid, 'SIGKILL'));
    t.is(r.signal, 'SIGKILL', r.err);
    // PR_SET_PDEATHSIG: the kernel kills QEMU; no code of ours could run.
    t.true(await eventually(() => processesMentioning(tmp).length === 0));
    t.is(leftovers(tmp).length, 1);
    removeStaleTempDirs(tmp); // what the next Vm.start does first
    t.deepEqual(leftovers(tmp), []);
  });
}
