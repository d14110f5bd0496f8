// irqlab demo: boot a Debian guest against one or more reference devices,
// fire MSI-X and IMS interrupts from here, and show what the guest received,
// the irq domain chain it built for each device and its logical functions.
import { parseArgs } from 'node:util';
import { Testbed, referenceDevices } from '../lab/testbed.ts';
import { fireInRounds } from '../lab/rounds.ts';
import type { ImsQueueDevice } from '../devices/ims-queue.ts';
import type { GuestDriver } from '../guest/driver.ts';
import { table } from '../text/table.ts';
import { summarizeKernelLog } from '../vm/kernel-log.ts';
import { hasIrqDebugfs, readKernelIrq, IRQ_DEBUGFS } from '../guest/irq-debugfs.ts';

const MAX_DEVICES = 4;

const help = `usage: irqlab demo [--kernel 6.12|7.3|6.12-debug|7.3-debug] [--no-iommu] [--rounds N] [--devices N]

Boots a Debian guest (TCG, a few seconds) against the reference ims-queue
device with the irqlab guest module, fires every MSI-X vector and every queue's
IMS interrupt N times (default 5), and prints what the guest counted, the irq
domain hierarchy it built and its logical functions. By default the guest has
a vIOMMU with interrupt remapping, so IMS sits on INTEL-IR on VECTOR.

options:
  --kernel NAME       guest kernel: 6.12 (default), 7.3, or the debug builds
                      6.12-debug and 7.3-debug (lockdep, irq debugfs)
  --no-iommu          no vIOMMU: MSI-X and IMS sit directly on VECTOR
  --rounds N          times each interrupt is fired (1..1000, default 5)
  --devices N         reference devices in the guest (1..${MAX_DEVICES}, default 1), one
                      socket and server each, in this one process; irqlab.ko
                      builds an IMS domain for each
`;

const hex = (v: bigint | number, w: number) => `0x${v.toString(16).padStart(w, '0')}`;

function intOption(value: string, name: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > max) throw new Error(`--${name} wants 1..${max}, got ${value}`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kernel: { type: 'string', default: '6.12' }, 'no-iommu': { type: 'boolean' }, rounds: { type: 'string', default: '5' },
      devices: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const rounds = intOption(values.rounds, 'rounds', 1000);
  const count = intOption(values.devices, 'devices', MAX_DEVICES);
  const iommu = !values['no-iommu'];
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const t0 = Date.now();
  const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;

  const what = count === 1 ? 'the ims-queue device' : `${count} ims-queue devices`;
  say(`${stamp()} booting a Debian ${values.kernel} guest${iommu ? ' with a vIOMMU (interrupt remapping)' : ''} against ${what}...`);
  /** Interrupts each device sent, as showDevice fires them. */
  const sent: number[] = [];
  const bed = await Testbed.start({
    devices: referenceDevices(count), kernel: values.kernel, iommu, cpus: 2, cmdline: iommu ? 'iommu=pt' : undefined,
    onProgress: (p) => say(`${stamp()} ${p.message}`),
  });
  try {
    const drivers = bed.drivers.map((d) => d!);
    const before = await Promise.all(drivers.map(totalCount));
    let lost = 0;
    for (const [i, drv] of drivers.entries()) {
      lost += await showDevice(bed.devices[i] as ImsQueueDevice, drv, count === 1 ? '' : `device ${i}: `);
    }
    // Each device's handlers counted what that device sent, and nothing more: no cross-talk.
    const extra = (await Promise.all(drivers.map(totalCount))).map((n, i) => n - before[i] - sent[i]);
    say(`\n${stamp()} done: ${lost === 0 ? 'every interrupt sent was received' : `${lost} interrupt(s) missing`}` +
      `${count > 1 && extra.every((n) => n === 0) ? ', each on its own device' : ''}.`);
    extra.forEach((n, i) => { if (n > 0) say(`device ${i} counted ${n} interrupt(s) more than it sent`); });
    say('Next: `make test`, or `irqlab serve --socket /tmp/irqlab.sock` to attach your own QEMU.');
    const kernelLog = await bed.vm.kernelLog.report();
    if (kernelLog.unexpected.length) say(`\n${bed.vm.kernelLog.describe(kernelLog)}`);
    say(summarizeKernelLog(kernelLog));
    return lost === 0 && extra.every((n) => n === 0) && kernelLog.unexpected.length === 0 ? 0 : 1;
  } finally {
    await bed.stop();
  }

  /**
   * On kernels with irq debugfs (the debug builds): the kernel's own account
   * of MSI-X vector 0's and queue 0's chains, level by level, and whether it
   * says what irqlab.ko's hierarchy dump says.
   */
  async function showKernelView(chains: Awaited<ReturnType<GuestDriver['hierarchy']>>, prefix: string): Promise<void> {
    if (!(await hasIrqDebugfs(bed.vm))) return;
    const rows: (string | number)[][] = [];
    const verdicts: string[] = [];
    for (const name of ['msix0', 'lfunc0.0']) {
      const ours = chains.find((c) => c.name === name);
      if (!ours) continue;
      const k = await readKernelIrq(bed.vm, ours.irq);
      k.levels.forEach((l, i) => rows.push([i === 0 ? `${name} (irq ${ours.irq})` : '', l.domain, hex(l.hwirq, 1), l.chip, i === 0 ? k.effective : '']));
      const same = JSON.stringify(ours.levels) === JSON.stringify(k.levels.map(({ domain, hwirq }) => ({ domain, hwirq })));
      verdicts.push(`${name} ${same ? 'matches' : 'DIFFERS FROM'} irqlab.ko's hierarchy`);
    }
    say(`\n${prefix}the kernel's own view (${IRQ_DEBUGFS}/irqs/N):`);
    say(table(['interrupt', 'domain', 'hwirq', 'chip', 'effective CPU'], rows, ['l', 'l', 'r', 'l', 'l']));
    say(verdicts.join('; '));
  }

  /** Interrupts a device's handlers counted: its vectors' and its queues'. */
  async function totalCount(drv: GuestDriver): Promise<number> {
    const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
    return sum((await drv.msix()).map((r) => r.count)) + sum((await drv.queues()).map((r) => r.count));
  }

  /** Fires one device's interrupts, shows what its driver counted and built; returns the interrupts missing. */
  async function showDevice(dev: ImsQueueDevice, drv: GuestDriver, prefix: string): Promise<number> {
    const info = await drv.info();
    sent.push(rounds * (info.msixVectors + info.queues));
    say(`\n${stamp()} ${prefix}guest ${bed.vm.release}: irqlab.ko bound to ${drv.bdf}; ${info.msixVectors} MSI-X vectors, ${info.queues} queues on IMS slots`);

    say(`\n${stamp()} ${prefix}MSI-X: firing each vector ${rounds} times`);
    const v = await fireInRounds({
      indexes: [...Array(info.msixVectors).keys()], rounds,
      fire: (i) => dev.fireMsix(i), counts: async () => (await drv.msix()).map((r) => r.count),
    });
    const vrows = await drv.msix();
    const chains = await drv.hierarchy();
    say(table(['vector', 'guest irq', 'sent', 'received', 'guest domains'], vrows.map((r) => [
      r.vector, r.irq, rounds, v.received[r.vector], chains.find((c) => c.name === `msix${r.vector}`)?.chain.join(' > ') ?? '',
    ]), ['r', 'r', 'r', 'r']));

    say(`\n${stamp()} ${prefix}IMS: completing ${rounds} work items on each queue (one IMS message each)`);
    const q = await fireInRounds({
      indexes: [...Array(info.queues).keys()], rounds,
      fire: (i) => dev.complete(i, 1), counts: async () => (await drv.queues()).map((r) => r.count),
    });
    const qrows = await drv.queues();
    say(table(['queue', 'slot', 'guest irq', 'message address', 'data', 'sent', 'received'], qrows.map((r) => [
      r.queue, r.index, r.irq, hex(r.address, 8), hex(r.data, 8), dev.queue(r.queue).irqsSent, q.received[r.queue],
    ]), ['r', 'r', 'r', 'l', 'l', 'r', 'r']));
    say(`\n${prefix}IMS domain hierarchy (queue 0): ${chains.find((c) => c.name === 'lfunc0.0')?.chain.join(' > ')}`);
    await showKernelView(chains, prefix);

    const lfuncs = await drv.lfuncs();
    say(`\n${prefix}logical functions (${drv.lfuncDir}/):`);
    say(table(['lfunc', 'queue', 'interrupt', 'guest irq', 'mode', 'slot/vector', 'CPU'], lfuncs.flatMap((l) => l.irqs.map((x) => [
      l.id, l.queue, x.index, x.irq, x.mode, x.hwirq, x.effectiveAffinity.join(','),
    ])), ['r', 'r', 'r', 'r', 'l', 'r', 'l']));
    return [...v.received.map((n) => rounds - n), ...q.received.map((n) => rounds - n)].reduce((a, b) => a + b, 0);
  }
}
