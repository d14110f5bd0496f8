// Checks run against one booted guest per configuration (a boot costs ~5 s under TCG,
// so each test file boots once and runs everything in that guest). Used by the
// guest-*.test.ts files; not a test file itself.

import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GuestCommandError, GuestTimeoutError, hasLab, labFile, loadLab, Vm, type VmOptions } from '../../src/vm/index.ts';

export const labMissing = !hasLab();

/** Registers one skipped test whose title says why, when there is no lab. */
export function skipWithoutLab(what: string): boolean {
  if (labMissing) test.skip(`${what}: skipped, no ${labFile()} (run \`make setup\`)`, () => {});
  return labMissing;
}

/** A small in-tree module of that lab kernel (xz-compressed, as Debian ships them). */
export function debianModule(kernel: '6.12' | '7.3', relPath = 'kernel/lib/ts_kmp.ko.xz'): string | undefined {
  const p = join(loadLab().kernels[kernel]!.modules, relPath);
  return existsSync(p) ? p : undefined;
}

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** Boots `opts` once and registers the common checks against that guest. */
export function guestChecks(title: string, opts: VmOptions & { kernel: '6.12' | '7.3' }): void {
  if (skipWithoutLab(title)) return;
  const module = debianModule(opts.kernel);
  let vm: Vm;

  test.before(async (t) => {
    const phases: string[] = [];
    vm = await Vm.start({ ...opts, modules: module ? [module] : [], onProgress: (p) => phases.push(p.phase) });
    t.log(`${title}: guest agent ready after ${vm.bootSeconds.toFixed(1)} s on ${vm.release}`);
    t.deepEqual(phases, ['qemu-started', 'kernel-booting', 'agent-ready']);
  });
  test.after.always(async () => {
    await vm?.stop();
  });

  test.serial(`${title}: the guest runs the lab's kernel`, async (t) => {
    t.is(vm.release, loadLab().kernels[opts.kernel]!.release);
    const r = await vm.run('uname -r; cat /proc/cmdline');
    t.is(r.status, 0);
    t.is(r.stdout.split('\n')[0], vm.release);
    t.regex(r.stdout, /console=ttyS0 quiet panic=-1 no_timer_check/);
    t.is(r.stderr, '');
  });

  test.serial(`${title}: status, stdout and stderr of a failing command; the agent carries on`, async (t) => {
    const r = await vm.run('echo out; echo err >&2; exit 3');
    t.deepEqual(r, { status: 3, stdout: 'out\n', stderr: 'err\n' });
    const e = await t.throwsAsync(vm.run('cat /nonexistent', { check: true }), { instanceOf: GuestCommandError });
    t.is(e!.status, 1);
    t.regex(e!.message, /No such file or directory/);
    t.is((await vm.run('echo still here')).stdout, 'still here\n');
  });

  test.serial(`${title}: a command printing 1 MiB of binary arrives intact`, async (t) => {
    const r = await vm.run('head -c 1048576 /dev/urandom | tee /tmp/random.bin', { encoding: 'buffer' });
    t.is(r.stdout.length, 1 << 20);
    const guestSum = (await vm.run('md5sum /tmp/random.bin', { check: true })).stdout.split(' ')[0];
    t.is(md5(r.stdout), guestSum);
  });

  test.serial(`${title}: files: every byte value, 1 MiB, and ranges at an offset`, async (t) => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await vm.writeFile('/tmp/bytes', all);
    t.deepEqual(await vm.readFile('/tmp/bytes'), all);

    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    await vm.writeFile('/tmp/big', big);
    t.is((await vm.run('md5sum /tmp/big')).stdout.split(' ')[0], md5(big));

    await vm.writeFile('/tmp/digits', '0123456789');
    await vm.writeFile('/tmp/digits', 'AB', { offset: 3 });
    t.is((await vm.readFile('/tmp/digits')).toString(), '012AB56789');
    t.is((await vm.readFile('/tmp/digits', { offset: 2, length: 4 })).toString(), '2AB5');
    await vm.writeFile('/tmp/digits', 'xy'); // without an offset: replaced
    t.is((await vm.readFile('/tmp/digits')).toString(), 'xy');

    await t.throwsAsync(vm.readFile('/nonexistent'), { instanceOf: GuestCommandError, message: /cannot read \/nonexistent/ });
    await t.throwsAsync(vm.writeFile('/nonexistent/dir/f', 'x'), { instanceOf: GuestCommandError });
  });

  test.serial(`${title}: PCI config space through sysfs, written at an offset`, async (t) => {
    // q35's host bridge: vendor 8086, device 29c0.
    const id = await vm.readFile('/sys/bus/pci/devices/0000:00:00.0/config', { offset: 0, length: 4 });
    t.is(id.readUInt32LE(0), 0x29c08086);
    // Interrupt Line (0x3c) is a scratch register for software: safe to write.
    const config = '/sys/bus/pci/devices/0000:00:1f.3/config';
    const before = await vm.readFile(config, { offset: 0x3c, length: 1 });
    await vm.writeFile(config, Buffer.from([0x5a]), { offset: 0x3c });
    t.deepEqual(await vm.readFile(config, { offset: 0x3c, length: 1 }), Buffer.from([0x5a]));
    await vm.writeFile(config, before, { offset: 0x3c });
  });

  test.serial(`${title}: a command outliving its timeout is killed, and the agent carries on`, async (t) => {
    const t0 = Date.now();
    const e = await t.throwsAsync(vm.run('echo started; sleep 30', { timeoutMs: 1000 }), { instanceOf: GuestTimeoutError });
    t.true(Date.now() - t0 < 10_000);
    t.is(e!.stdout, 'started\n');
    t.is((await vm.run('echo after')).stdout, 'after\n');
  });

  test.serial(`${title}: requests issued together are answered in order`, async (t) => {
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => vm.run(`echo ${i}`)));
    t.deepEqual(
      results.map((r) => r.stdout),
      ['1\n', '2\n', '3\n', '4\n', '5\n'],
    );
  });

  test.serial(`${title}: waitForLog sees kernel messages up to KERN_INFO on the console`, async (t) => {
    const mark = vm.consoleLength;
    const wait = vm.waitForLog(/irqlab-test: (\w+)/, { from: mark, timeoutMs: 10_000 });
    await vm.writeFile('/dev/kmsg', '<6>irqlab-test: hello\n');
    const m = await wait;
    t.is(m[1], 'hello');
    t.true(m.index! >= mark);
    t.regex(await vm.dmesg(), /irqlab-test: hello/);
    await t.throwsAsync(vm.waitForLog(/never printed/, { timeoutMs: 200 }), {
      message: /did not appear on the guest console within 0\.2 s; last console lines:/,
    });
  });

  test.serial(`${title}: insmod loads a module from the initramfs, and says why one fails`, async (t) => {
    if (!module) return t.pass('the lab kernel has no ts_kmp module');
    await vm.insmod('ts_kmp.ko.xz');
    t.regex((await vm.run('cat /proc/modules')).stdout, /^ts_kmp /m);
    await t.throwsAsync(vm.insmod('missing.ko'), { instanceOf: GuestCommandError, message: /cannot load missing\.ko/ });
  });

  test.serial(`${title}: the agent restarts if killed; the request in flight fails, later ones work`, async (t) => {
    // The run operation is a child of the agent: kill the agent under it.
    await t.throwsAsync(vm.run('kill -9 $PPID; sleep 5'), { message: /the guest agent restarted/ });
    t.is((await vm.run('echo back')).stdout, 'back\n');
  });

  test.serial(`${title}: stop() ends QEMU, even with a command running, and removes the temp dir`, async (t) => {
    const { pid, tempDir } = vm;
    const running = vm.run('sleep 30');
    await new Promise((r) => setTimeout(r, 300)); // let the agent start it
    const t0 = Date.now();
    await vm.stop();
    t.true(Date.now() - t0 < 4000, `stop() took ${Date.now() - t0} ms`);
    await t.throwsAsync(running, { message: /the VM was stopped/ });
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    t.false(existsSync(tempDir));
    await t.throwsAsync(vm.run('true'), { message: /the VM was stopped/ });
    t.false(readdirSync('/proc').some((p) => /^\d+$/.test(p) && procHasArg(p, tempDir)));
  });
}

function procHasArg(pid: string, s: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(s);
  } catch {
    return false;
  }
}
