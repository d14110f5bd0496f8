// The lab's debug kernels (6.12-debug, 7.3-debug, built by `make setup` from Debian's
// sources with qemu/kconfig/lab-debug.config) against the reference device with
// irqlab.ko: their checkers are on, the kernel's irq debugfs is there, the lab's features
// (virtio agent, interrupt remapping, MSI-X, IMS, CPU hotplug, the in-tree
// pci_endpoint_test.ko) work, and none of it trips lockdep.
import test, { type ExecutionContext } from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { fireInRounds } from '../../src/lab/rounds.ts';
import { loadLab } from '../../src/vm/index.ts';
import { skipWithoutLab } from './guest-checks.ts';

const kernels = ['6.12-debug', '7.3-debug'] as const;

/** Lockdep turns itself off (debug_locks 0) after its first report. */
async function lockdepStillOn(t: ExecutionContext, bed: Testbed, when: string): Promise<void> {
  const stats = (await bed.vm.run('cat /proc/lockdep_stats', { check: true })).stdout;
  if (!/^\s*debug_locks:\s+1$/m.test(stats)) {
    t.fail(`lockdep switched itself off ${when} (a lock report?); kernel log:\n${(await bed.vm.dmesg()).slice(-4000)}`);
  }
}

for (const kernel of kernels) {
  if (skipWithoutLab(kernel)) break;

  // One boot per kernel, one after the other: each QEMU takes a core under TCG.
  test.serial(`${kernel}: boots with irqlab.ko, lockdep and the irq debugfs on, and the lab's features work`, async (t) => {
    const lab = loadLab();
    const k = lab.kernels[kernel];
    if (!k) return t.fail(`lab.json has no ${kernel} kernel: run make setup`);
    for (const c of ['PROVE_LOCKING', 'DEBUG_ATOMIC_SLEEP', 'DEBUG_SHIRQ', 'GENERIC_IRQ_DEBUGFS']) {
      t.true(k.debug?.checkers.includes(c), `lab.json says ${kernel} has ${c} on`);
    }
    const bed = await Testbed.start({ kernel, iommu: true, cpus: 2, modules: [lab.endpoint.modules[kernel]!] });
    try {
      t.log(`${kernel}: agent ready after ${bed.vm.bootSeconds.toFixed(1)} s on ${bed.vm.release}`);
      t.is(bed.vm.release, k.release);
      const drv = bed.driver!;

      // Lockdep is on and has seen the boot and irqlab.ko's probe.
      const stats = (await bed.vm.run('cat /proc/lockdep_stats', { check: true })).stdout;
      t.regex(stats, /lock-classes:\s+[1-9]\d*/);
      t.regex(stats, /dependency chains:\s+[1-9]\d*/);
      await lockdepStillOn(t, bed, 'during boot or irqlab.ko probe');

      // The kernel's own view of interrupts: one file per irq, every irq domain.
      const domains = (await bed.vm.run('ls /sys/kernel/debug/irq/domains', { check: true })).stdout.split('\n');
      t.true(domains.some((d) => d.startsWith('INTEL-IR')), `irq domains: ${domains.join(' ')}`);
      t.true(domains.includes('VECTOR'), `irq domains: ${domains.join(' ')}`);

      // irqlab.ko's debugfs, and its interrupts delivered through interrupt remapping.
      const files = (await bed.vm.run(`ls /sys/kernel/debug/irqlab/${drv.bdf}`, { check: true })).stdout.split('\n');
      for (const f of ['info', 'queues', 'msix', 'hierarchy', 'ctl']) t.true(files.includes(f), `irqlab debugfs has ${f}`);
      const vectors = [0, 1, 2, 3, 4, 5, 6, 7];
      const msix = await fireInRounds({ indexes: vectors, rounds: 2, fire: (v) => bed.device.fireMsix(v), counts: async () => (await drv.msix()).map((v) => v.count) });
      t.deepEqual(vectors.map((v) => msix.received[v]), vectors.map(() => 2));
      const queues = await fireInRounds({ indexes: vectors, rounds: 2, fire: (q) => bed.device.complete(q, 1), counts: async () => (await drv.queues()).map((q) => q.count) });
      t.deepEqual(vectors.map((q) => queues.received[q]), vectors.map(() => 2));

      // An IMS irq as the kernel describes it names the domains irqlab.ko built it on.
      const hierarchy = await drv.hierarchy();
      const ims = hierarchy.find((r) => r.chain[0]?.startsWith('irqlab-ims'));
      if (!ims) return t.fail(`irqlab.ko shows no IMS irq in its hierarchy: ${JSON.stringify(hierarchy)}`);
      const irqFile = (await bed.vm.readFile(`/sys/kernel/debug/irq/irqs/${ims.irq}`)).toString();
      for (const d of ims.chain) t.true(irqFile.includes(`domain:  ${d}`), `/sys/kernel/debug/irq/irqs/${ims.irq} names ${d}:\n${irqFile}`);

      // A CPU goes away and comes back: its interrupts move, under lockdep.
      await bed.vm.run('echo 0 > /sys/devices/system/cpu/cpu1/online && echo 1 > /sys/devices/system/cpu/cpu1/online', { check: true });
      const after = await fireInRounds({ indexes: [0, 1], rounds: 1, fire: (q) => bed.device.complete(q, 1), counts: async () => (await drv.queues()).map((q) => q.count) });
      t.deepEqual([after.received[0], after.received[1]], [1, 1]);

      // The endpoint test driver is the kernel's own module here (CONFIG_PCI_ENDPOINT_TEST=m).
      t.true(lab.endpoint.modules[kernel]!.startsWith(k.modules + '/'), 'pci_endpoint_test.ko comes from the kernel tree');
      await bed.vm.insmod('pci_endpoint_test.ko');
      await bed.vm.run('grep -q "^pci_endpoint_test " /proc/modules && rmmod pci_endpoint_test && rmmod irqlab', { check: true });
      await lockdepStillOn(t, bed, 'after CPU hotplug and module unloads');
    } finally {
      await bed.stop();
    }
  });
}
