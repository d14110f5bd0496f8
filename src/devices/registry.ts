// Devices `irqlab serve/boot` can start by name, or from a user's module.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PciFunction } from '../pci/function.ts';
import { ImsQueueDevice } from './ims-queue.ts';
import { PciEpfTestDevice } from './pci-epf-test.ts';

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
  const url = pathToFileURL(resolve(spec)).href;
  let mod: { default?: unknown };
  try {
    mod = await import(url);
  } catch (err) {
    throw new Error(`cannot load device module ${spec}: ${(err as Error).message}`);
  }
  const d = mod.default;
  const dev = typeof d === 'function' ? await (d as DeviceFactory)(opts) : d;
  if (!dev || typeof (dev as PciFunction).regionRead !== 'function') {
    throw new Error(`${spec} must export default a device (e.g. a PciFunction) or a function returning one`);
  }
  return dev as PciFunction;
}
