// A device, its server and a booted guest driving it: what scenarios, tests
// and the demo work with. The device runs in this process, so a script can
// fire its interrupts and inspect its state while the guest runs.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VfioUserServer, type ServerOptions } from '../server/server.ts';
import type { PciFunction } from '../pci/function.ts';
import { ImsQueueDevice, IRQLAB_VENDOR_ID, IRQLAB_DEVICE_ID } from '../devices/ims-queue.ts';
import { Vm, labHome, type VmOptions } from '../vm/index.ts';
import { GuestDriver, findPciDevice } from '../guest/driver.ts';

export interface TestbedOptions<D extends PciFunction> extends Omit<VmOptions, 'devices' | 'modules'> {
  /** The device to serve (default: the reference IMS queue device). */
  device?: D;
  /**
   * Load the irqlab guest module (built by `make setup` for the lab kernels)
   * with these module parameters; false to boot without it.
   */
  module?: false | { params?: string };
  /** Extra modules to put in the initramfs (host paths). */
  modules?: string[];
  server?: Partial<Omit<ServerOptions, 'socketPath'>>;
  /** Poll mode for the device's server (ServerOptions.pollUs; default $IRQLAB_POLL_US, else off). */
  pollUs?: number;
  /** Put the device behind a hot-plug capable PCIe root port (surprise removal needs one). */
  rootPort?: boolean;
  /** Extra properties of the vfio-user-pci device (e.g. x-msg-timeout). */
  deviceProperties?: Record<string, string | number | boolean>;
  /** Called with the server before QEMU connects (to attach a trace recorder...). */
  onServer?: (server: VfioUserServer) => void;
}

/** The guest module built for a lab kernel series ('6.12', '7.3'). */
export function guestModulePath(series: string): string {
  const p = join(labHome(), 'modules', series, 'irqlab.ko');
  if (!existsSync(p)) throw new Error(`the irqlab guest module for ${series} is not built (${p}): run make setup`);
  return p;
}

export class Testbed<D extends PciFunction = ImsQueueDevice> {
  private constructor(
    readonly device: D,
    readonly server: VfioUserServer,
    readonly vm: Vm,
    /** The reference device's guest driver view (when the module is loaded). */
    readonly driver: GuestDriver | undefined,
    readonly logs: string[],
    private readonly dir: string,
  ) {}

  static async start<D extends PciFunction = ImsQueueDevice>(opts: TestbedOptions<D> = {}): Promise<Testbed<D>> {
    const device = (opts.device ?? new ImsQueueDevice()) as D;
    const dir = mkdtempSync(join(tmpdir(), 'irqlab-bed-'));
    const socketPath = join(dir, 'device.sock');
    const logs: string[] = [];
    const server = new VfioUserServer(device, { socketPath, log: (l) => logs.push(l), ...(opts.pollUs === undefined ? {} : { pollUs: opts.pollUs }), ...opts.server }).listen();
    opts.onServer?.(server);
    const kernel = opts.kernel ?? '6.12';
    const wantModule = opts.module !== false && device instanceof ImsQueueDevice;
    const modules = [...(opts.modules ?? [])];
    if (wantModule) modules.push(guestModulePath(String(kernel)));
    let vm: Vm;
    try {
      vm = await Vm.start({ ...opts, kernel, devices: [{ socket: socketPath, rootPort: opts.rootPort, properties: opts.deviceProperties }], modules });
    } catch (err) {
      server.close();
      rmSync(dir, { recursive: true, force: true });
      if (logs.length) (err as Error).message += `\ndevice server log:\n  ${logs.slice(-20).join('\n  ')}`;
      throw err;
    }
    let driver: GuestDriver | undefined;
    try {
      if (wantModule) {
        await vm.insmod('irqlab.ko', opts.module ? opts.module.params ?? '' : '');
        driver = new GuestDriver(vm, await findPciDevice(vm, IRQLAB_VENDOR_ID, IRQLAB_DEVICE_ID));
      }
    } catch (err) {
      await vm.stop().catch(() => {});
      server.close();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return new Testbed(device, server, vm, driver, logs, dir);
  }

  /**
   * Asks the guest to release the device, as a hot-unplug request on its
   * slot (the device must sit behind a root port). This is what QEMU does on
   * the device's REQ interrupt for vfio-pci; QEMU 11.1's vfio-user-pci does
   * not wire REQ (it has no x-req property), so the lab asks QEMU directly.
   */
  async requestRemoval(): Promise<void> {
    await this.vm.qmp('device_del', { id: 'irqlab0' });
  }

  /** Unloads and reloads the guest module (e.g. with other parameters). */
  async reloadModule(params = ''): Promise<void> {
    await this.vm.run('rmmod irqlab', { check: true });
    await this.vm.insmod('irqlab.ko', params);
  }

  async stop(): Promise<void> {
    try {
      await this.vm.stop();
    } finally {
      this.server.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
