// The QEMU command line for an irqlab guest. Pure: the same config always gives the
// same arguments, so tests can pin them without starting QEMU.

/** One vfio-user device for QEMU to attach. */
export interface VmDevice {
  /** The device server's UNIX socket. It must exist before QEMU starts (no reconnect). */
  socket: string;
  /** QEMU device id (defaults to irqlab<N>). */
  id?: string;
  /** PCI slot.function on the bus (QEMU's `addr`, e.g. '0x4.0'); QEMU picks one if unset. */
  addr?: string;
  /**
   * Place the device behind its own pcie-root-port instead of on the root complex.
   * On pcie.0 QEMU presents a PCIe endpoint as a Root Complex Integrated Endpoint
   * (no link registers); behind a root port it is an ordinary endpoint.
   */
  rootPort?: boolean;
  /** Extra vfio-user-pci properties, e.g. { 'x-msg-timeout': 10000 }. */
  properties?: Record<string, string | number | boolean>;
}

export type AgentPort = 'virtio' | 'ttyS1';

/** The virtio-serial port name the guest's init.sh looks for in /sys/class/virtio-ports. */
export const AGENT_PORT_NAME = 'org.irqlab.agent';

export interface QemuConfig {
  /** Where QEMU listens for QMP (optional). */
  qmpSocket?: string;
  kernel: string;
  initrd: string;
  /** The kernel command line. */
  append: string;
  memMiB: number;
  cpus: number;
  /** Adds an Intel vIOMMU with interrupt remapping. */
  iommu: boolean;
  devices: VmDevice[];
  /** UNIX socket QEMU connects to for ttyS0, the kernel console. */
  consoleSocket: string;
  /** UNIX socket QEMU connects to for the guest agent's port. */
  agentSocket: string;
  /**
   * The agent's port: a virtio-serial port (fast: about 5 MB/s each way under TCG, but
   * one more PCI device with two MSI-X vectors) or the second 8250 UART, ttyS1 (about
   * 170 KB/s out and 50 KB/s in; needs nothing but a built-in 8250 driver).
   */
  agentPort: AgentPort;
  /** Appended verbatim, e.g. ['-trace', 'enable=vfio_user_*', '-D', 'trace.log']. */
  extraArgs?: string[];
}

export function qemuArgs(c: QemuConfig): string[] {
  const args = [
    '-accel', 'tcg',
    '-machine', 'q35',
    '-cpu', 'max',
    '-m', String(c.memMiB),
    '-smp', String(c.cpus),
    '-nographic',
    '-nic', 'none',
    // A guest reboot (panic=-1 reboots at once) ends QEMU, so a panic is seen as an exit.
    '-no-reboot',
    // -nographic would put the monitor on stdio: QEMU's stdio is only for its own messages.
    '-monitor', 'none',
    // Guest RAM in a shared memfd: QEMU passes its fd with DMA_MAP so the device
    // server can mmap guest memory instead of using DMA_READ/DMA_WRITE messages.
    '-object', `memory-backend-memfd,id=mem,size=${c.memMiB}M,share=on`,
    '-machine', 'memory-backend=mem',
    '-kernel', c.kernel,
    '-initrd', c.initrd,
    '-append', c.append,
    // QEMU connects to sockets the host already listens on: nothing the guest writes
    // before the host is ready can be lost. The first -serial is ttyS0.
    '-chardev', `socket,id=console,path=${chardevPath(c.consoleSocket)}`,
    '-serial', 'chardev:console',
    '-chardev', `socket,id=agent,path=${chardevPath(c.agentSocket)}`,
  ];
  // QMP for what only QEMU can do (device_del...); QEMU listens, nothing waits on it.
  if (c.qmpSocket) args.push('-qmp', `unix:${chardevPath(c.qmpSocket)},server=on,wait=off`);
  if (c.agentPort === 'ttyS1') args.push('-serial', 'chardev:agent');
  if (c.iommu) {
    // Before any PCI device, so that every device sits behind it (dotted -device
    // options are created before JSON ones anyway). Under TCG intremap needs no split
    // irqchip (a KVM requirement). caching-mode: the Debian kernels also turn DMA
    // remapping on, and QEMU's vfio code can only follow the guest's mappings (to send
    // DMA_MAP/DMA_UNMAP) when the guest flushes the IOTLB on map too; without it QEMU
    // aborts ("device 00.02.0 requires caching mode").
    args.push('-device', 'intel-iommu,intremap=on,caching-mode=on');
  }
  c.devices.forEach((d, i) => {
    if (d.rootPort) {
      args.push('-device', `pcie-root-port,id=${rootPortId(d, i)},chassis=${i + 1},slot=${i + 1}`);
    }
    args.push('-device', deviceJson(d, i));
  });
  if (c.agentPort === 'virtio') {
    // After the caller's devices, so that theirs get the first free slots (00:02.0 on).
    // JSON form too: QEMU creates all dotted -device options before any JSON one.
    // Port 0 is reserved for virtconsole, so ours is port 1 of 2.
    args.push(
      '-device', JSON.stringify({ driver: 'virtio-serial-pci', id: 'irqlab-agent', max_ports: 2 }),
      '-device', JSON.stringify({ driver: 'virtserialport', bus: 'irqlab-agent.0', nr: 1, chardev: 'agent', name: AGENT_PORT_NAME }),
    );
  }
  args.push(...(c.extraArgs ?? []));
  return args;
}

/** vfio-user-pci accepts only the JSON form of -device (the dotted form is rejected). */
export function deviceJson(d: VmDevice, index: number): string {
  const dev: Record<string, unknown> = {
    driver: 'vfio-user-pci',
    id: d.id ?? `irqlab${index}`,
    socket: { path: d.socket, type: 'unix' },
    // Our devices have no option ROM; rombar=0 also silences "Device ROM size is zero".
    rombar: 0,
  };
  if (d.rootPort) dev.bus = rootPortId(d, index);
  if (d.addr !== undefined) dev.addr = d.addr;
  return JSON.stringify({ ...dev, ...d.properties });
}

function rootPortId(d: VmDevice, index: number): string {
  return `${d.id ?? `irqlab${index}`}-port`;
}

/** QEMU's option syntax uses ',' as separator; a literal comma is written ',,'. */
function chardevPath(p: string): string {
  return p.replaceAll(',', ',,');
}
