// `irqlab boot` as a person uses it: a console on the terminal, their own
// module and their own bzImage.
import test from 'ava';
import { spawn } from 'node:child_process';
import { loadLab } from '../../src/vm/lab.ts';
import { guestModulePath } from '../../src/lab/testbed.ts';
import { irqlabBin } from '../helpers/spawn-serve.ts';
import { poll } from '../helpers/eventually.ts';

test('boot with a bzImage given by path and the user\'s own module: the console runs commands', async (t) => {
  const lab = loadLab();
  const p = spawn(process.execPath, [irqlabBin, 'boot', '--kernel', lab.kernels['6.12'].vmlinuz, '--no-module', '--module', guestModulePath('6.12')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  const exit = new Promise<number | null>((resolve) => p.on('exit', resolve));
  t.teardown(() => { p.kill('SIGKILL'); });
  const until = async (re: RegExp, what: string, text = () => out) => {
    if (!(await poll(() => re.test(text()), (seen) => seen, { timeoutMs: 60000, intervalMs: 50 })).ok) {
      throw new Error(`no ${what}; stdout:\n${out}\nstderr:\n${err}`);
    }
  };
  await until(/console attached/, 'the console', () => err);
  t.regex(err, /loaded irqlab\.ko/);
  p.stdin.write('echo MARK-$((6*7)); lsmod | grep -c "^irqlab"\n');
  await until(/MARK-42\n1\n/, 'command output');
  p.stdin.write(Buffer.from([0x1d]));
  t.is(await exit, 0);
});
