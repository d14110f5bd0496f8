import test from 'ava';
import { Vm } from '../../src/vm/index.ts';
import { skipWithoutLab } from './guest-checks.ts';

// One guest per kernel with the Intel vIOMMU, booted side by side.
const kernels = ['6.12', '7.3'] as const;

if (!skipWithoutLab('iommu')) {
  const vms = new Map<string, Vm>();
  test.before(async (t) => {
    const started = await Promise.allSettled(kernels.map((kernel) => Vm.start({ kernel, iommu: true, cpus: 2 })));
    started.forEach((s, i) => s.status === 'fulfilled' && vms.set(kernels[i]!, s.value));
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    for (const [k, vm] of vms) t.log(`${k} with intel-iommu, 2 CPUs: guest agent ready after ${vm.bootSeconds.toFixed(1)} s`);
  });
  test.after.always(async () => {
    await Promise.all([...vms.values()].map((vm) => vm.stop()));
  });

  for (const kernel of kernels) {
    test(`${kernel}: intel-iommu,intremap=on enables IRQ remapping, and MSI-X goes through it`, async (t) => {
      const vm = vms.get(kernel)!;
      t.regex(await vm.dmesg(), /DMAR-IR: Enabled IRQ remapping in x(2)?apic mode/);
      // The agent's virtio-serial device is an MSI-X device behind the vIOMMU.
      const interrupts = (await vm.run('cat /proc/interrupts', { check: true })).stdout;
      t.regex(interrupts, /IR-PCI-MSIX-0000:00:0\d\.0 .*virtio0-virtqueues/);
      t.is((await vm.run('nproc')).stdout.trim(), '2');
    });
  }
}
