import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImsQueueDevice, IRQLAB_ID_MAGIC, Reg } from '../../src/devices/ims-queue.ts';
import { VfioUserServer } from '../../src/server/server.ts';
import { Vm } from '../../src/vm/index.ts';
import { skipWithoutLab } from './guest-checks.ts';

// A vfio-user device served by this process, attached to a guest behind the Intel
// vIOMMU: the VM layer's device plumbing end to end (JSON -device, shared memfd RAM,
// caching-mode for vfio, config space and MMIO reaching the device model).

const BDF = '0000:00:02.0';
const config = `/sys/bus/pci/devices/${BDF}/config`;

if (!skipWithoutLab('vfio-user device')) {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-devtest-'));
  const socket = join(dir, 'ims-queue.sock');
  const server = new VfioUserServer(new ImsQueueDevice(), { socketPath: socket, log: () => {} });
  let vm: Vm;

  test.before(async (t) => {
    server.listen();
    vm = await Vm.start({ kernel: '7.3', iommu: true, devices: [{ socket }] });
    t.log(`7.3 with intel-iommu and the ims-queue device: guest agent ready after ${vm.bootSeconds.toFixed(1)} s`);
  });
  test.after.always(async () => {
    await vm?.stop();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test.serial('the first device takes the first free slot and is in its own IOMMU group', async (t) => {
    const ids = await vm.readFile(config, { offset: 0, length: 4 });
    t.is(ids.readUInt32LE(0), 0x0001f1ab);
    t.regex((await vm.run(`readlink /sys/bus/pci/devices/${BDF}/iommu_group`)).stdout, /iommu_groups\/\d+$/m);
    t.regex(await vm.dmesg(), /DMAR-IR: Enabled IRQ remapping/);
  });

  test.serial('a 2-byte config write at an offset reaches the device', async (t) => {
    const command = (await vm.readFile(config, { offset: 4, length: 2 })).readUInt16LE(0);
    const write = (v: number) => vm.writeFile(config, Buffer.from([v & 0xff, v >> 8]), { offset: 4 });
    await write(command | 0x4); // bus master on
    t.is((await vm.readFile(config, { offset: 4, length: 2 })).readUInt16LE(0), command | 0x4);
    await write(command);
  });

  test.serial('guest MMIO reads and writes of BAR0 reach the device model', async (t) => {
    const bar0 = Number((await vm.run(`cut -d' ' -f1 /sys/bus/pci/devices/${BDF}/resource | head -1`)).stdout);
    const at = (reg: number): string => `0x${(bar0 + reg).toString(16)}`;
    t.is(Number((await vm.run(`devmem ${at(Reg.ID)} 32`, { check: true })).stdout), IRQLAB_ID_MAGIC);
    await vm.run(`devmem ${at(Reg.SCRATCH)} 32 0x5eed1234`, { check: true });
    t.is(Number((await vm.run(`devmem ${at(Reg.SCRATCH)} 32`, { check: true })).stdout), 0x5eed1234);
  });
}
