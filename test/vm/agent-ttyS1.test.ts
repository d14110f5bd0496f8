import test from 'ava';
import { Vm } from '../../src/vm/index.ts';
import { skipWithoutLab } from './guest-checks.ts';

// The fallback agent port for kernels whose config is unknown: the second 8250 UART.
// It is slow (tens of KB/s), so only small transfers here.
if (!skipWithoutLab('agent on ttyS1')) {
  let vm: Vm;
  test.before(async (t) => {
    vm = await Vm.start({ kernel: '7.3', agentPort: 'ttyS1' });
    t.log(`7.3, agent on ttyS1: guest agent ready after ${vm.bootSeconds.toFixed(1)} s`);
  });
  test.after.always(async () => {
    await vm?.stop();
  });

  test.serial('the agent answers on ttyS1, and no virtio-serial device is added', async (t) => {
    // The script's parent is the agent, which holds its port open.
    t.regex((await vm.run('ls -l /proc/$PPID/fd')).stdout, / -> \/dev\/ttyS1$/m);
    t.notRegex((await vm.run('cat /sys/bus/pci/devices/*/vendor')).stdout, /0x1af4/); // virtio's vendor
  });

  test.serial('binary data passes the UART unchanged both ways', async (t) => {
    // Bytes a tty would otherwise translate: NUL, ^C, ^S/^Q, CR, LF, DEL, 0xff.
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff));
    await vm.writeFile('/tmp/b', bytes);
    t.deepEqual(await vm.readFile('/tmp/b'), bytes);
    await vm.writeFile('/tmp/b', Buffer.from([0x03, 0x0d]), { offset: 10 });
    t.deepEqual(await vm.readFile('/tmp/b', { offset: 9, length: 3 }), Buffer.from([bytes[9]!, 0x03, 0x0d]));
    const out = await vm.run('head -c 65536 /dev/zero | tr "\\0" "\\377"', { encoding: 'buffer' });
    t.deepEqual(out.stdout, Buffer.alloc(65536, 0xff));
  });
}
