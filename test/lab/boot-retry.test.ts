// A boot that never reaches the guest agent is tried again (bootAttempts):
// the second QEMU attaches the same device servers, and the guest drives the
// device as if the first attempt had never been.
import test from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { eventually } from '../../src/lab/eventually.ts';
import { skipWithoutLab } from '../vm/guest-checks.ts';

if (!skipWithoutLab('boot retry')) {
  test('a first QEMU that never boots (stopped with SIGSTOP) is replaced; the device is attached again and its interrupts arrive', async (t) => {
    const phases: string[] = [];
    let stopped = 0;
    const bed = await Testbed.start({
      kernel: '6.12', cpus: 2, bootTimeoutMs: 30_000, bootAttempts: 2,
      onProgress: (p) => {
        phases.push(p.phase);
        // The first QEMU is frozen as soon as it starts: its guest cannot reach the agent.
        const pid = /\(pid (\d+)\)/.exec(p.message)?.[1];
        if (p.phase === 'qemu-started' && !stopped && pid) {
          stopped = Number(pid);
          process.kill(stopped, 'SIGSTOP');
        }
      },
    });
    t.teardown(() => bed.stop());
    t.true(stopped > 0, 'the first QEMU was frozen');
    t.deepEqual(phases.filter((p) => p === 'qemu-started' || p === 'boot-retry' || p === 'agent-ready'), ['qemu-started', 'boot-retry', 'qemu-started', 'agent-ready']);
    t.throws(() => process.kill(stopped, 0), { code: 'ESRCH' }, 'the frozen QEMU is gone');
    const drv = bed.drivers[0]!;
    t.regex((await drv.info()).imsDomain, /^irqlab-ims-/, 'irqlab.ko probed the device behind the second QEMU');
    const before = (await drv.msix())[0].count;
    bed.device.fireMsix(0);
    await eventually('MSI-X 0 counted in the guest', async () => (await drv.msix())[0].count === before + 1, { timeoutMs: 8000, intervalMs: 20 });
  });
}
