import test from 'ava';
import { Vm } from '../../src/vm/index.ts';
import { skipWithoutLab } from './guest-checks.ts';

// One guest per kernel with the Intel vIOMMU, booted one after the other:
// with two 2-vCPU guests booting at once beside the rest of the suite on a
// loaded 2-core machine, one once sat silent past the 60 s boot limit.
const kernels = ['6.12', '7.3'] as const;

if (!skipWithoutLab('iommu')) {
  const vms = new Map<string, Vm>();
  test.before(async (t) => {
    for (const kernel of kernels) {
      const vm = await Vm.start({ kernel, iommu: true, cpus: 2 });
      vms.set(kernel, vm);
      t.log(`${kernel} with intel-iommu, 2 CPUs: guest agent ready after ${vm.bootSeconds.toFixed(1)} s`);
    }
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
