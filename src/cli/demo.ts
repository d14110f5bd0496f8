// irqlab demo: boot a Debian guest against the reference device, fire MSI-X
// and IMS interrupts from here, and show what the guest received.
import { parseArgs } from 'node:util';
import { Testbed } from '../lab/testbed.ts';
import { fireInRounds } from '../lab/rounds.ts';
import { table } from './table.ts';

const help = `usage: irqlab demo [--kernel 6.12|7.3|6.12-debug|7.3-debug] [--no-iommu] [--rounds N]

Boots a Debian guest (TCG, a few seconds) against the reference ims-queue
device with the irqlab guest module, fires every MSI-X vector and every queue's
IMS interrupt N times (default 5), and prints what the guest counted and the
irq domain hierarchy it built. By default the guest has a vIOMMU with interrupt
remapping, so IMS sits on INTEL-IR on VECTOR.
`;

const hex = (v: bigint | number, w: number) => `0x${v.toString(16).padStart(w, '0')}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { kernel: { type: 'string', default: '6.12' }, 'no-iommu': { type: 'boolean' }, rounds: { type: 'string', default: '5' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 1000) throw new Error(`--rounds wants 1..1000, got ${values.rounds}`);
  const iommu = !values['no-iommu'];
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const t0 = Date.now();
  const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;

  say(`${stamp()} booting a Debian ${values.kernel} guest${iommu ? ' with a vIOMMU (interrupt remapping)' : ''} against the ims-queue device...`);
  const bed = await Testbed.start({
    kernel: values.kernel, iommu, cpus: 2, cmdline: iommu ? 'iommu=pt' : undefined,
    onProgress: (p) => say(`${stamp()} ${p.message}`),
  });
  try {
    const drv = bed.driver!;
    const info = await drv.info();
    say(`${stamp()} guest ${bed.vm.release}: irqlab.ko bound to ${drv.bdf}; ${info.msixVectors} MSI-X vectors, ${info.queues} queues on IMS slots`);

    say(`\n${stamp()} MSI-X: firing each vector ${rounds} times`);
    const v = await fireInRounds({
      indexes: [...Array(info.msixVectors).keys()], rounds,
      fire: (i) => bed.device.fireMsix(i), counts: async () => (await drv.msix()).map((r) => r.count),
    });
    const vrows = await drv.msix();
    const chains = await drv.hierarchy();
    say(table(['vector', 'guest irq', 'sent', 'received', 'guest domains'], vrows.map((r) => [
      r.vector, r.irq, rounds, v.received[r.vector], chains.find((c) => c.name === `msix${r.vector}`)?.chain.join(' > ') ?? '',
    ]), ['r', 'r', 'r', 'r']));

    say(`\n${stamp()} IMS: completing ${rounds} work items on each queue (one IMS message each)`);
    const q = await fireInRounds({
      indexes: [...Array(info.queues).keys()], rounds,
      fire: (i) => bed.device.complete(i, 1), counts: async () => (await drv.queues()).map((r) => r.count),
    });
    const qrows = await drv.queues();
    say(table(['queue', 'slot', 'guest irq', 'message address', 'data', 'sent', 'received'], qrows.map((r) => [
      r.queue, r.index, r.irq, hex(r.address, 8), hex(r.data, 8), bed.device.queue(r.queue).irqsSent, q.received[r.queue],
    ]), ['r', 'r', 'r', 'l', 'l', 'r', 'r']));
    say(`\nIMS domain hierarchy (queue 0): ${chains.find((c) => c.name === 'q0')?.chain.join(' > ')}`);
    const lost = [...v.received.map((n) => rounds - n), ...q.received.map((n) => rounds - n)].reduce((a, b) => a + b, 0);
    say(`\n${stamp()} done: ${lost === 0 ? 'every interrupt sent was received' : `${lost} interrupt(s) missing`}.`);
    say('Next: `make test`, or `irqlab serve --socket /tmp/irqlab.sock` to attach your own QEMU.');
    return lost === 0 ? 0 : 1;
  } finally {
    await bed.stop();
  }
}
