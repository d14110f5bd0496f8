// Devices `irqlab serve/boot` can start by name, or from a user's module.
import type { PciFunction } from '../pci/function.ts';
import { ImsQueueDevice } from './ims-queue.ts';
import { PciEpfTestDevice } from './pci-epf-test.ts';
import { importUserModule, UserCodeError } from './user-module.ts';

export type DeviceFactory = (opts?: Record<string, unknown>) => PciFunction;

export const builtinDevices: Record<string, { describe: string; create: DeviceFactory }> = {
  'ims-queue': {
    describe: 'reference device: 8 work queues, MSI-X (8 vectors) and an IMS table (64 slots) in BAR0',
    create: (o) => new ImsQueueDevice(o as never),
  },
  'pci-epf-test': {
    describe: "the kernel's PCI endpoint test function (16c3:edda): what pci_endpoint_test.ko, pcitest and the pci_endpoint kselftest drive",
    create: (o) => new PciEpfTestDevice(o as never),
  },
};

export const DEFAULT_DEVICE = 'ims-queue';

/**
 * A built-in name, or a path to a TypeScript/JavaScript module whose default
 * export is a device or a function returning one.
 */
export async function loadDevice(spec: string = DEFAULT_DEVICE, opts?: Record<string, unknown>): Promise<PciFunction> {
  const builtin = builtinDevices[spec];
  if (builtin) return builtin.create(opts);
  if (!/[./]/.test(spec)) {
    throw new Error(`unknown device "${spec}"; built-in devices: ${Object.keys(builtinDevices).join(', ')}; or give a path to a module`);
  }
  const mod = await importUserModule(spec, 'device module');
  return deviceFrom(mod.default, spec, opts);
}

/**
 * The device a module's export stands for: a device, or a factory (called
 * with opts) returning one. A factory's exception is reported as the
 * module's own, with its file and line.
 */
export async function deviceFrom(d: unknown, where: string, opts?: Record<string, unknown>): Promise<PciFunction> {
  let dev: unknown = d;
  if (typeof d === 'function' && !isDevice(d)) {
    try {
      dev = await (d as DeviceFactory)(opts);
    } catch (err) {
      throw new UserCodeError(`the device factory of ${where} threw`, err);
    }
  }
  if (!isDevice(dev)) {
    throw new Error(`${where} must export default a device (e.g. a PciFunction) or a function returning one; it exports ${describeValue(d)}`);
  }
  return dev;
}

function isDevice(d: unknown): d is PciFunction {
  return typeof d === 'object' && d !== null && typeof (d as PciFunction).regionRead === 'function';
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'no default';
  if (typeof v === 'function') return 'a function that returned something else';
  return v === null ? 'null' : `a ${typeof v}`;
}
