// Proof that the lab catches driver bugs: examples/drivers/buggy_irq carries
// interrupt bugs on purpose. On a debug kernel the watchdog reports each one
// with the right kind and the buggy function in its frames, and check() -- what
// every scenario and guest suite runs -- fails. On a stock kernel the same
// interrupts are handled and counted, and nothing at all is reported: what a
// lab without debug kernels loses.
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Testbed } from '../../src/lab/testbed.ts';
import { labHome } from '../../src/vm/index.ts';
import { KernelSplatError } from '../../src/vm/kernel-log.ts';
import { eventually } from '../helpers/eventually.ts';
import createCounterDevice from '../../examples/counter-device.ts';
import type { PciFunction } from '../../src/pci/function.ts';

function buggyModule(kernel: string): string {
  const p = join(labHome(), 'modules', kernel, 'buggy_irq.ko');
  if (!existsSync(p)) throw new Error(`${p} is not built: run make setup`);
  return p;
}

async function boot(kernel: string, bug: string): Promise<Testbed<PciFunction>> {
  const bed = await Testbed.start({ kernel, device: createCounterDevice(), modules: [buggyModule(kernel)], cpus: 2 });
  await bed.vm.insmod('buggy_irq.ko', `bug=${bug}`);
  return bed;
}

const count = async (bed: Testbed<PciFunction>) => Number((await bed.vm.readFile('/sys/kernel/debug/buggy_irq/count')).toString());

/** Fires vector 0 until the guest has handled an interrupt. */
async function interrupt(bed: Testbed<PciFunction>): Promise<void> {
  const before = await count(bed);
  bed.device.msix!.fire(0);
  await eventually('the guest to handle vector 0', async () => (await count(bed)) > before);
}

test.serial('6.12-debug: a handler that takes a mutex is reported as sleeping in atomic context, and check() fails', async (t) => {
  const bed = await boot('6.12-debug', 'sleep');
  try {
    await interrupt(bed);
    await eventually('the report to reach the kernel log', async () => (await bed.vm.kernelLog.splats()).splats.length > 0);
    const err = await t.throwsAsync(bed.vm.kernelLog.check(), { instanceOf: KernelSplatError });
    const s = (err as KernelSplatError).splats.find((x) => x.kind === 'atomic-sleep');
    t.truthy(s, `an atomic-sleep report among: ${err!.message}`);
    t.true(s!.frames.some((f) => f.startsWith('buggy_handler+')), `buggy_handler in ${s!.frames.join(', ')}`);
    t.regex(err!.message, /sleeping function called from invalid context/);
  } finally {
    await bed.stop();
  }
});

test.serial('6.12-debug: a spinlock taken with irqs on and in the handler is a lockdep report, and an expected one passes', async (t) => {
  const bed = await boot('6.12-debug', 'irqlock');
  try {
    t.true(bed.vm.kernelLog.checkers.includes('lockdep'));
    await bed.vm.kernelLog.check(); // boot and module load are clean
    bed.vm.kernelLog.expect(/inconsistent lock state/);
    await interrupt(bed);
    await bed.vm.writeFile('/sys/kernel/debug/buggy_irq/poke', '1');
    await eventually('the lockdep report', async () => (await bed.vm.kernelLog.splats()).splats.length > 0);
    const r = await bed.vm.kernelLog.check();
    t.is(r.expected.length, 1);
    t.is(r.expected[0].kind, 'lockdep');
    t.true(r.expected[0].lines.some((l) => /buggy_irq|buggy_handler|poke_write/.test(l)));
  } finally {
    await bed.stop();
  }
});

test.serial('6.12 (stock): the same bugs go unseen -- interrupts are counted and the kernel log stays clean', async (t) => {
  for (const bug of ['sleep', 'irqlock']) {
    const bed = await boot('6.12', bug);
    try {
      t.deepEqual(bed.vm.kernelLog.checkers, []);
      for (let i = 0; i < 3; i++) await interrupt(bed);
      await bed.vm.writeFile('/sys/kernel/debug/buggy_irq/poke', '1');
      const r = await bed.vm.kernelLog.check();
      t.deepEqual(r.unexpected, [], `bug=${bug}`);
      t.true((await count(bed)) >= 3);
    } finally {
      await bed.stop();
    }
  }
});

test.serial('a correct driver (bug=none) on 6.12-debug leaves the kernel log clean with lockdep on', async (t) => {
  const bed = await boot('6.12-debug', 'none');
  try {
    for (let i = 0; i < 3; i++) await interrupt(bed);
    await bed.vm.writeFile('/sys/kernel/debug/buggy_irq/poke', '1');
    const r = await bed.vm.kernelLog.check();
    t.deepEqual(r.unexpected, []);
    t.true(r.checkers.includes('lockdep') && r.checkers.includes('atomic-sleep'));
  } finally {
    await bed.stop();
  }
});
