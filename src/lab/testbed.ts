// Devices, their servers and a booted guest driving them: what scenarios,
// tests and the demo work with. The devices run in this process, so a script
// can fire their interrupts and inspect their state while the guest runs.
// Several devices share one guest: each has its own socket and server, and
// the guest's address of each is found by its ids and serial number
// (identify.ts).
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VfioUserServer, type ServerOptions } from '../server/server.ts';
import type { PciFunction } from '../pci/function.ts';
import { ImsQueueDevice } from '../devices/ims-queue.ts';
import { Vm, labHome, type VmOptions } from '../vm/index.ts';
import { loadLab, resolveKernel } from '../vm/lab.ts';
import { resolveKernelModules } from '../vm/kernel-modules.ts';
import { atProcessExit } from '../vm/exit-hooks.ts';
import { GuestDriver } from '../guest/driver.ts';
import { GenericDriver, GENERIC_MODULE, type GenericMode } from '../guest/generic.ts';
import { checkDistinguishable, identityOf, locateDevices } from './identify.ts';

export interface TestbedOptions<D extends PciFunction> extends Omit<VmOptions, 'devices' | 'modules'> {
  /** The device to serve (default: the reference IMS queue device). */
  device?: D;
  /**
   * Several devices in one guest, instead of `device` (bed.device is the
   * first). Devices with the same ids need distinct serial numbers.
   */
  devices?: readonly PciFunction[];
  /**
   * Load the irqlab guest module (built by `make setup` for the lab kernels)
   * with these module parameters; false to boot without it. It binds every
   * reference device.
   */
  module?: false | { params?: string };
  /**
   * Bind the generic guest driver (irqlab_generic.ko) to every device that
   * irqlab.ko does not drive, by the vendor:device in its config space: it
   * enables MSI-X (else MSI, else INTx; or the mode given) with every vector,
   * counts each vector in debugfs (bed.generic[i]) and lets irqlab-poke in
   * the guest read and write the device's BARs.
   */
  bind?: boolean | { mode?: 'auto' | GenericMode };
  /** Extra modules to put in the initramfs (host paths). */
  modules?: string[];
  /** Options of every device's server. */
  server?: Partial<Omit<ServerOptions, 'socketPath'>>;
  /** Options of one device's server, over `server` (a trace tap for one device...). */
  serverFor?: (device: PciFunction, index: number) => Partial<Omit<ServerOptions, 'socketPath'>>;
  /** Poll mode for every device's server (ServerOptions.pollUs; default $IRQLAB_POLL_US, else off). */
  pollUs?: number;
  /** Put each device behind a hot-plug capable PCIe root port (surprise removal needs one). */
  rootPort?: boolean;
  /** Extra properties of every vfio-user-pci device (e.g. x-msg-timeout). */
  deviceProperties?: Record<string, string | number | boolean>;
  /** Called with each server before QEMU connects (to attach a trace recorder...). */
  onServer?: (server: VfioUserServer, device: PciFunction, index: number) => void;
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

/** The reference device's first serial number; referenceDevices() counts up from it. */
const REFERENCE_SERIAL = 0x1ab0_0000_0000_0001n;

/** n reference devices, with serial numbers the guest tells apart. */
export function referenceDevices(n: number): ImsQueueDevice[] {
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new RangeError(`reference devices: 1..16, got ${n}`);
  return Array.from({ length: n }, (_, i) => new ImsQueueDevice({ serial: REFERENCE_SERIAL + BigInt(i) }));
}

/**
 * A guest module built by `make setup` for a lab kernel ('6.12', '7.3',
 * '6.12-debug', '7.3-debug'): irqlab.ko, or the example counter device's counter_drv.ko.
 */
export function guestModulePath(kernel: string, file: 'irqlab.ko' | 'counter_drv.ko' | typeof GENERIC_MODULE = 'irqlab.ko'): string {
  if (kernel.includes('/')) {
    throw new Error(`${file} is built only for the lab's kernels, not for ${kernel}: build it for that kernel and pass it in modules, with module: false`);
  }
  const p = join(labHome(), 'modules', kernel, file);
  if (!existsSync(p)) throw new Error(`the guest module ${file} for ${kernel} is not built (${p}): run make setup`);
  return p;
}

export class Testbed<D extends PciFunction = ImsQueueDevice> {
  private constructor(
    /** Every device, in the order given. */
    readonly devices: readonly PciFunction[],
    /** devices[i]'s server. */
    readonly servers: readonly VfioUserServer[],
    /** devices[i]'s PCI address in the guest (e.g. 0000:00:03.0). */
    readonly bdfs: readonly string[],
    /** devices[i]'s guest driver view: a reference device's, when the module is loaded. */
    readonly drivers: readonly (GuestDriver | undefined)[],
    /** devices[i]'s view through the generic guest driver, when bound (TestbedOptions.bind). */
    readonly generic: readonly (GenericDriver | undefined)[],
    readonly vm: Vm,
    /** Every server's log; with several devices each line starts with "[device N]". */
    readonly logs: string[],
    /** Closes the servers and removes their sockets' directory. */
    private readonly closeServers: () => void,
  ) {}

  /** The device (the first, with several). */
  get device(): D {
    return this.devices[0] as D;
  }

  get server(): VfioUserServer {
    return this.servers[0];
  }

  /** The first reference device's guest driver view (when the module is loaded). */
  get driver(): GuestDriver | undefined {
    return this.drivers.find((d) => d !== undefined);
  }

  static async start<D extends PciFunction = ImsQueueDevice>(opts: TestbedOptions<D> = {}): Promise<Testbed<D>> {
    if (opts.device && opts.devices) throw new Error('Testbed: give device or devices, not both');
    const devices: PciFunction[] = opts.devices ? [...opts.devices] : [opts.device ?? new ImsQueueDevice()];
    if (devices.length === 0) throw new Error('Testbed: devices is empty');
    devices.forEach((d, i) => {
      const j = devices.indexOf(d);
      if (j !== i) {
        throw new Error(`Testbed: devices ${j} and ${i} are the same object; a device can be served once ` +
          '(to serve a device module twice, export a function that creates the device)');
      }
    });
    const ids = devices.map(identityOf);
    checkDistinguishable(ids);

    // Everything that can be checked is checked before a socket exists: a
    // bad kernel name must not leave a server (and its socket) behind.
    const kernel = opts.kernel ?? '6.12';
    const lab = typeof opts.lab === 'object' ? opts.lab : loadLab(opts.lab);
    const resolved = resolveKernel(lab, kernel);
    resolveKernelModules(resolved, opts.kernelModules ?? []); // a misspelt name, said now
    const isReference = devices.map((d) => d instanceof ImsQueueDevice);
    const wantModule = opts.module !== false && isReference.some(Boolean);
    const modules = [...(opts.modules ?? [])];
    if ((wantModule || opts.bind) && !resolved.release) {
      throw new Error(`the guest modules are built for the lab kernels (${Object.keys(lab.kernels).join(', ')}), not ${kernel}: boot it without them (module: false, no bind)`);
    }
    if (wantModule) modules.push(guestModulePath(String(kernel)));
    // The generic driver takes every device irqlab.ko leaves alone.
    const bindIds = opts.bind ? [...new Set(ids.filter((_, i) => !(wantModule && isReference[i])).map((id) => `${hex4(id.vendor)}:${hex4(id.device)}`))] : [];
    if (opts.bind && bindIds.length === 0) {
      throw new Error('bind: every device is driven by irqlab.ko already (module: false leaves them to the generic driver)');
    }
    if (bindIds.length) modules.push(guestModulePath(String(kernel), GENERIC_MODULE));
    const dir = mkdtempSync(join(tmpdir(), 'irqlab-bed-'));
    const logs: string[] = [];
    const servers: VfioUserServer[] = [];
    const closeAll = () => {
      undoExitHook();
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
    };
    // A process that ends (or is stopped by a signal) without stop() leaves no socket behind.
    const undoExitHook = atProcessExit(closeAll);
    const poll = opts.pollUs === undefined ? {} : { pollUs: opts.pollUs };
    try {
      devices.forEach((device, i) => {
        const log = devices.length > 1 ? (l: string) => logs.push(`[device ${i}] ${l}`) : (l: string) => logs.push(l);
        const server = new VfioUserServer(device, { socketPath: join(dir, `device${i}.sock`), log, ...poll, ...opts.server, ...opts.serverFor?.(device, i) }).listen();
        servers.push(server);
        opts.onServer?.(server, device, i);
      });
    } catch (err) {
      closeAll();
      throw err;
    }
    let vm: Vm;
    try {
      vm = await Vm.start({
        ...opts, lab, kernel, modules,
        devices: servers.map((s, i) => ({ socket: s.socketPath, id: `irqlab${i}`, rootPort: opts.rootPort, properties: opts.deviceProperties })),
      });
    } catch (err) {
      closeAll();
      if (logs.length) (err as Error).message += `\ndevice server log:\n  ${logs.slice(-20).join('\n  ')}`;
      throw err;
    }
    try {
      const bdfs = await locateDevices(vm, ids);
      // Probing is synchronous for devices already present: after insmod
      // every reference device has its debugfs and lfunc/ directories.
      if (wantModule) await vm.insmod('irqlab.ko', opts.module ? opts.module.params ?? '' : '');
      const drivers = bdfs.map((bdf, i) => (wantModule && isReference[i] ? new GuestDriver(vm, bdf) : undefined));
      // Modules of the lab kernel by name: modprobe loads each with its dependencies.
      for (const m of opts.kernelModules ?? []) await vm.run(`modprobe ${m}`, { check: true, timeoutMs: 60_000 });
      if (bindIds.length) {
        const mode = typeof opts.bind === 'object' && opts.bind.mode ? opts.bind.mode : 'auto';
        // Binding happens inside insmod (a dynamic id attaches at once).
        await vm.insmod(GENERIC_MODULE, `ids=${bindIds.join(',')} mode=${mode}`);
      }
      const generic = bdfs.map((bdf, i) => (bindIds.length && !drivers[i] ? new GenericDriver(vm, bdf) : undefined));
      return new Testbed<D>(devices, servers, bdfs, drivers, generic, vm, logs, closeAll);
    } catch (err) {
      await vm.stop().catch(() => {});
      closeAll();
      throw err;
    }
  }

  /**
   * Asks the guest to release device `index` (default 0), as a hot-unplug
   * request on its slot (the device must sit behind a root port). This is
   * what QEMU does on the device's REQ interrupt for vfio-pci; QEMU 11.1's
   * vfio-user-pci does not wire REQ (it has no x-req property), so the lab
   * asks QEMU directly.
   */
  async requestRemoval(index = 0): Promise<void> {
    if (!Number.isInteger(index) || index < 0 || index >= this.devices.length) {
      throw new RangeError(`device ${index} does not exist (0..${this.devices.length - 1})`);
    }
    await this.vm.qmp('device_del', { id: `irqlab${index}` });
  }

  /** Unloads and reloads the guest module (e.g. with other parameters); it rebinds every reference device. */
  async reloadModule(params = ''): Promise<void> {
    await this.vm.run('rmmod irqlab', { check: true });
    await this.vm.insmod('irqlab.ko', params);
  }

  async stop(): Promise<void> {
    try {
      await this.vm.stop();
    } finally {
      this.closeServers();
    }
  }
}
