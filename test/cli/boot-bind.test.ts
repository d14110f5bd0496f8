// `irqlab boot examples/counter-device.ts --bind`, as the README tells a new
// user: the generic guest driver takes the device, every MSI-X vector fired
// (here through the control socket) is counted in the guest, and the console
// has irqlab-poke and lspci.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { irqlabBin } from '../helpers/spawn-serve.ts';
import { poll } from '../helpers/eventually.ts';
import { ControlClient } from '../../src/control/client.ts';

const COUNTER = new URL('../../examples/counter-device.ts', import.meta.url).pathname;

test('boot the README\'s counter device with --bind: every vector\'s count rises in the guest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-bind-'));
  const control = join(dir, 'c.sock');
  const p = spawn(process.execPath, [irqlabBin, 'boot', COUNTER, '--bind', '--control', control], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  const exit = new Promise<number | null>((resolve) => p.on('exit', resolve));
  t.teardown(() => {
    p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const until = async (re: RegExp, what: string, text = () => out, timeoutMs = 180_000) => {
    if (!(await poll(() => re.exec(text()), (m) => m !== null, { timeoutMs, intervalMs: 50 })).ok) {
      throw new Error(`no ${what}; stdout:\n${out}\nstderr:\n${err}`);
    }
    return re.exec(text())!;
  };
  let mark = 0;
  /** Runs a command on the guest's console; its output (the line echo of the command has the mark unexpanded). */
  const sh = async (cmd: string) => {
    const n = ++mark;
    const from = out.length;
    p.stdin.write(`${cmd}; echo END-$((${n}+1000))\n`);
    await until(new RegExp(`END-${n + 1000}\\r?\\n`), `the output of ${cmd}`, () => out.slice(from), 60_000);
    return out.slice(from);
  };

  await until(/console attached/, 'the console', () => err);
  t.regex(err, /at (\S+): irqlab_generic drives it, MSI-X with 4 of 4 vectors; counts in \/sys\/kernel\/debug\/irqlab_generic\/\S+\/irqs, registers with irqlab-poke BAR OFFSET \[VALUE\]/);
  const counts = async () => {
    const text = await sh('cat /sys/kernel/debug/irqlab_generic/*/irqs');
    return [...text.matchAll(/^(\d) \d+ (\d+)\r?$/gm)].map((m) => Number(m[2]));
  };
  const ctl = await ControlClient.connect(control);
  t.teardown(() => ctl.close());
  const before = await counts();
  t.is(before.length, 4, out);
  const N = 3;
  for (let r = 1; r <= N; r++) {
    // 'queued': irqlab first reads the vector's mask from QEMU's table by DMA.
    for (let v = 0; v < 4; v++) t.regex(await ctl.fire('msix', v), /^(delivered|queued)$/);
    const seen = await poll(counts, (c) => c.every((n, v) => n - before[v] >= r), { timeoutMs: 30_000, intervalMs: 200 });
    t.true(seen.ok, `round ${r}: ${seen.value}`);
  }
  t.deepEqual((await counts()).map((n, v) => n - before[v]), [N, N, N, N], 'every vector, every time');

  t.regex(await sh('irqlab-poke 0 0'), /bar 0 offset 0x0 width 4 value 0x434e5452 read/);
  t.regex(await sh('lspci -vv | grep MSI-X'), /MSI-X: Enable\+ Count=4 Masked-/);
  p.stdin.write(Buffer.from([0x1d]));
  t.is(await exit, 0);
});
