import test from 'ava';
import { deviceJson, qemuArgs, type QemuConfig } from '../../src/vm/qemu-args.ts';

const base: QemuConfig = {
  kernel: '/k/vmlinuz',
  initrd: '/t/initramfs.cpio.gz',
  append: 'console=ttyS0 quiet panic=-1',
  memMiB: 512,
  cpus: 2,
  iommu: false,
  devices: [],
  consoleSocket: '/t/console.sock',
  agentSocket: '/t/agent.sock',
  agentPort: 'ttyS1',
};

const after = (args: string[], flag: string): string[] =>
  args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

test('TCG q35 with guest RAM in a shared memfd', (t) => {
  const args = qemuArgs(base);
  t.deepEqual(args.slice(0, 6), ['-accel', 'tcg', '-machine', 'q35', '-cpu', 'max']);
  t.deepEqual(after(args, '-object'), ['memory-backend-memfd,id=mem,size=512M,share=on']);
  t.deepEqual(after(args, '-machine'), ['q35', 'memory-backend=mem']);
  t.deepEqual(after(args, '-m'), ['512']);
  t.deepEqual(after(args, '-smp'), ['2']);
  for (const flag of ['-nographic', '-no-reboot']) t.true(args.includes(flag));
  t.deepEqual(after(args, '-nic'), ['none']);
});

test('ttyS0 is the console socket and ttyS1 the agent socket', (t) => {
  const args = qemuArgs(base);
  t.deepEqual(after(args, '-chardev'), ['socket,id=console,path=/t/console.sock', 'socket,id=agent,path=/t/agent.sock']);
  t.deepEqual(after(args, '-serial'), ['chardev:console', 'chardev:agent']);
});

test('a virtio agent port is a virtserialport after the caller\'s devices, and no ttyS1', (t) => {
  const args = qemuArgs({ ...base, agentPort: 'virtio', devices: [{ socket: '/s.sock' }] });
  t.deepEqual(after(args, '-serial'), ['chardev:console']);
  const devices = after(args, '-device');
  t.true(devices[0]!.includes('vfio-user-pci'));
  // JSON form, or QEMU would create them before the JSON vfio-user device.
  t.deepEqual(devices.slice(1).map((d) => JSON.parse(d)), [
    { driver: 'virtio-serial-pci', id: 'irqlab-agent', max_ports: 2 },
    { driver: 'virtserialport', bus: 'irqlab-agent.0', nr: 1, chardev: 'agent', name: 'org.irqlab.agent' },
  ]);
});

test('iommu adds intel-iommu with interrupt remapping (and caching mode, for vfio) before the devices', (t) => {
  const args = qemuArgs({ ...base, iommu: true, devices: [{ socket: '/s.sock' }] });
  const devices = after(args, '-device');
  t.is(devices[0], 'intel-iommu,intremap=on,caching-mode=on');
  t.true(devices[1]!.startsWith('{'));
  t.false(qemuArgs(base).includes('intel-iommu,intremap=on,caching-mode=on'));
});

test('a vfio-user device is given in JSON form with rombar 0', (t) => {
  t.deepEqual(JSON.parse(deviceJson({ socket: '/s.sock' }, 0)), {
    driver: 'vfio-user-pci',
    id: 'irqlab0',
    socket: { path: '/s.sock', type: 'unix' },
    rombar: 0,
  });
  t.like(JSON.parse(deviceJson({ socket: '/s', addr: '0x4.0', properties: { 'x-msg-timeout': 9000 } }, 1)), {
    id: 'irqlab1',
    addr: '0x4.0',
    'x-msg-timeout': 9000,
  });
});

test('a device behind its own root port', (t) => {
  const devices = after(qemuArgs({ ...base, devices: [{ socket: '/s', rootPort: true }] }), '-device');
  t.is(devices[0], 'pcie-root-port,id=irqlab0-port,chassis=1,slot=1');
  t.like(JSON.parse(devices[1]!), { bus: 'irqlab0-port' });
});

test('commas in socket paths are escaped for QEMU option syntax', (t) => {
  t.true(after(qemuArgs({ ...base, consoleSocket: '/t/a,b' }), '-chardev')[0]!.endsWith('path=/t/a,,b'));
});
