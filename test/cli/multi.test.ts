// Several devices from the command line: `irqlab boot` with three devices
// (two reference devices and the example counter device with its example
// driver) and `irqlab demo --devices 2`.
import test from 'ava';
import { spawn } from 'node:child_process';
import { guestModulePath } from '../../src/lab/testbed.ts';
import { irqlabBin } from '../helpers/spawn-serve.ts';

/** Runs the CLI; `until` waits for a pattern in its output. */
function start(args: string[]) {
  const p = spawn(process.execPath, [irqlabBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  p.stdout.on('data', (d) => { out.stdout += d; });
  p.stderr.on('data', (d) => { out.stderr += d; });
  const exit = new Promise<number | null>((resolve) => p.on('exit', resolve));
  const until = async (re: RegExp, what: string, stream: 'stdout' | 'stderr', ms = 180_000) => {
    const end = Date.now() + ms;
    while (!re.test(out[stream])) {
      if (Date.now() > end) throw new Error(`no ${what} within ${ms / 1000} s; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { p, out, exit, until };
}

test.serial('boot with three devices: each at its own address, both reference devices bound by irqlab.ko, the counter device by its driver', async (t) => {
  const run = start(['boot', 'ims-queue', 'ims-queue', 'examples/counter-device.ts', '--module', guestModulePath('6.12', 'counter_drv.ko')]);
  t.teardown(() => { run.p.kill('SIGKILL'); });
  await run.until(/console attached/, 'the console', 'stderr');
  const at = [...run.out.stderr.matchAll(/device (\d) \((\S+)\) at ([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.\d)/g)].map((m) => [m[1], m[2], m[3]]);
  t.deepEqual(at.map(([i, spec]) => [i, spec]), [['0', 'ims-queue'], ['1', 'ims-queue'], ['2', 'examples/counter-device.ts']]);
  const bdfs = at.map(([, , bdf]) => bdf);
  t.is(new Set(bdfs).size, 3, `three addresses: ${bdfs.join(' ')}`);
  run.p.stdin.write('ls -d /sys/bus/pci/devices/*/lfunc; echo COUNTER-$(grep -c counter_drv- /proc/interrupts)\n');
  await run.until(/COUNTER-\d+/, 'command output', 'stdout');
  for (const bdf of bdfs.slice(0, 2)) t.true(run.out.stdout.includes(`/sys/bus/pci/devices/${bdf}/lfunc`), `${bdf} has logical functions`);
  t.false(run.out.stdout.includes(`/sys/bus/pci/devices/${bdfs[2]}/lfunc`), 'the counter device has none');
  t.regex(run.out.stdout, /COUNTER-4/, 'counter_drv took the counter device\'s 4 MSI-X vectors');
  run.p.stdin.write(Buffer.from([0x1d]));
  t.is(await run.exit, 0);
});

test.serial('demo --devices 2: both devices\' interrupts counted, their domain chains and logical functions shown', async (t) => {
  const run = start(['demo', '--devices', '2', '--rounds', '1']);
  t.teardown(() => { run.p.kill('SIGKILL'); });
  t.is(await run.exit, 0, run.out.stdout + run.out.stderr);
  const chains = [...run.out.stdout.matchAll(/^device (\d): IMS domain hierarchy \(queue 0\): (irqlab-ims-(\S+)) > INTEL-IR-\S+ > VECTOR$/gm)];
  t.deepEqual(chains.map((m) => m[1]), ['0', '1']);
  t.not(chains[0][3], chains[1][3], 'each device its own IMS domain');
  for (const m of chains) {
    t.true(run.out.stdout.includes(`device ${m[1]}: logical functions (/sys/bus/pci/devices/${m[3]}/lfunc/):`));
    t.regex(run.out.stdout, new RegExp(`IR-PCI-MSIX-${m[3].replaceAll('.', '\\.')}-\\d+ > INTEL-IR`), `device ${m[1]}'s MSI-X chain`);
  }
  t.regex(run.out.stdout, /done: every interrupt sent was received, each on its own device\./);
});
