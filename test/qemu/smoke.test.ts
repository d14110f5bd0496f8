// QEMU's own vfio-user client (QEMU 11.1 from `make setup`) realizes our
// device: the whole start-up sequence runs with no error, the device shows in
// `info pci`, and QEMU quits cleanly.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLab } from '../../src/vm/lab.ts';
import { Command, commandName, isCommand } from '../../src/protocol/index.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

test('QEMU realizes the device over vfio-user and quits cleanly', async (t) => {
  const lab = loadLab(); // fails with "run make setup" when the lab is missing
  const seen: number[] = [];
  const h = startServer(undefined, { tap: (dir, hdr) => { if (dir === 'in' && isCommand(hdr)) seen.push(hdr.command); } });
  t.teardown(() => h.close());
  const trace = join(h.dir, 'qemu-trace.log');
  const qemu = spawn(lab.qemu.bin, [
    '-accel', 'tcg', '-machine', 'q35', '-m', '256', '-display', 'none', '-serial', 'none', '-S',
    '-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { path: h.socket, type: 'unix' }, rombar: 0 }),
    '-trace', 'enable=vfio_user_*', '-D', trace, '-monitor', 'stdio',
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  qemu.stdout.on('data', (d) => { out += d; });
  qemu.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => qemu.on('exit', (code) => resolve(code)));
  t.teardown(() => { qemu.kill('SIGKILL'); });

  await eventually('the start-up sequence to reach DEVICE_RESET', () => seen.includes(Command.DEVICE_RESET), 20000);
  qemu.stdin.write('info pci\n');
  await eventually('info pci to list the device', () => /f1ab:0001/.test(out), 10000);
  qemu.stdin.write('quit\n');
  t.is(await exited, 0, `QEMU exit status (stderr: ${err})`);

  // The start-up sequence FINDINGS section 1 describes, in order.
  const order = [Command.VERSION, Command.DMA_MAP, Command.DEVICE_GET_INFO, Command.DEVICE_GET_REGION_INFO, Command.DEVICE_GET_IRQ_INFO, Command.REGION_READ, Command.DEVICE_RESET];
  let at = 0;
  for (const cmd of order) {
    const i = seen.indexOf(cmd, at);
    t.true(i >= 0, `${commandName(cmd)} after position ${at} in ${seen.map(commandName).join(' ')}`);
    at = i;
  }
  t.is(err.trim(), '', 'QEMU printed no error or warning');
  const log = readFileSync(trace, 'utf8');
  t.regex(log, /vfio_user_get_info +#regions 9 #irqs 5/);
  t.notRegex(log, /error|malformed/i);
  t.false(h.logs.some((l) => /internal error|EINVAL/.test(l)), h.logs.join('\n'));
});
