// Which guest PCI function is which device: with several devices in one
// guest, QEMU and the guest kernel choose the bus addresses, so the lab asks
// the guest. A function is recognised by its vendor:device ids and, where two
// devices share those, by the Device Serial Number in its extended config
// space (PCIe 7.9.3), read the way lspci -vv reads it.
import type { PciFunction } from '../pci/function.ts';
import { PCI_DEVICE_ID, PCI_EXT_CAP_ID_DSN, PCI_VENDOR_ID } from '../pci/regs.ts';
import { walkConfigExtCaps } from '../pci/walk.ts';

export interface DeviceIdentity {
  vendor: number;
  device: number;
  /** The Device Serial Number, if the function has the capability. */
  serial?: bigint;
}

export class IdentifyError extends Error {}

/** What the guest will see of a device model: its ids and its serial number. */
export function identityOf(dev: PciFunction): DeviceIdentity {
  const serial = readSerial(dev.config.bytes);
  return { vendor: dev.config.u16(PCI_VENDOR_ID), device: dev.config.u16(PCI_DEVICE_ID), ...(serial === undefined ? {} : { serial }) };
}

export function describeIdentity(id: DeviceIdentity): string {
  const ids = `${hex(id.vendor, 4)}:${hex(id.device, 4)}`;
  return id.serial === undefined ? `${ids} (no serial number)` : `${ids} serial 0x${id.serial.toString(16).padStart(16, '0')}`;
}

/**
 * Throws unless the guest can tell every device from the others: devices
 * with the same ids need serial numbers, and different ones.
 */
export function checkDistinguishable(ids: DeviceIdentity[]): void {
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      const a = ids[i];
      const b = ids[j];
      if (a.vendor !== b.vendor || a.device !== b.device) continue;
      if (a.serial !== undefined && b.serial !== undefined && a.serial !== b.serial) continue;
      throw new IdentifyError(
        `devices ${i} and ${j} are both ${describeIdentity(a)}${a.serial === b.serial ? '' : ` / ${describeIdentity(b)}`}: ` +
          'the guest could not tell them apart; give each its own serial number ' +
          '(new ImsQueueDevice({ serial }), capabilities.dsn in a PciFunction spec, or referenceDevices(n))',
      );
    }
  }
}

/** The serial number in a config space image, if it has the DSN capability. */
export function readSerial(config: Uint8Array): bigint | undefined {
  // The serial number is the two dwords after the capability header, low dword first.
  const cap = walkConfigExtCaps(config).find((c) => c.id === PCI_EXT_CAP_ID_DSN);
  if (!cap || cap.at + 12 > config.length) return undefined;
  const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
  return (BigInt(v.getUint32(cap.at + 8, true)) << 32n) | BigInt(v.getUint32(cap.at + 4, true));
}

/** What locating needs from a guest. */
export interface GuestPciShell {
  run(cmd: string, opts?: { check?: boolean }): Promise<{ status: number; stdout: string; stderr: string }>;
  readFile(path: string): Promise<Buffer>;
}

interface GuestFunction {
  bdf: string;
  vendor: number;
  device: number;
  serial?: bigint;
}

/** Parses "BDF VENDOR DEVICE" lines (sysfs's 0x-prefixed ids). */
export function parseFunctionList(text: string): GuestFunction[] {
  return text.split('\n').filter((l) => l.trim()).map((l) => {
    const m = /^(\S+) (0x[0-9a-f]{4}) (0x[0-9a-f]{4})$/.exec(l.trim());
    if (!m) throw new IdentifyError(`cannot parse the guest's PCI device line "${l}"`);
    return { bdf: m[1], vendor: Number(m[2]), device: Number(m[3]) };
  });
}

/**
 * The guest PCI address of each device, in the order given. Serial numbers are
 * read from the guest's config space only where ids alone do not decide.
 */
export async function locateDevices(shell: GuestPciShell, ids: DeviceIdentity[]): Promise<string[]> {
  checkDistinguishable(ids);
  const r = await shell.run('for d in /sys/bus/pci/devices/*; do echo "${d##*/} $(cat $d/vendor) $(cat $d/device)"; done', { check: true });
  const fns = parseFunctionList(r.stdout);
  const sameIds = (f: { vendor: number; device: number }, id: DeviceIdentity) => f.vendor === id.vendor && f.device === id.device;
  const needSerial = (id: DeviceIdentity) => ids.filter((o) => sameIds(o, id)).length > 1;
  for (const f of fns) {
    if (ids.some((id) => sameIds(f, id) && needSerial(id))) {
      f.serial = readSerial(await shell.readFile(`/sys/bus/pci/devices/${f.bdf}/config`));
    }
  }
  return ids.map((id, i) => {
    const found = fns.filter((f) => sameIds(f, id) && (!needSerial(id) || f.serial === id.serial));
    if (found.length === 1) return found[0].bdf;
    const seen = fns.filter((f) => sameIds(f, id)).map((f) => `${f.bdf}${f.serial === undefined ? '' : ` (serial 0x${f.serial.toString(16)})`}`);
    if (found.length === 0) {
      throw new IdentifyError(`device ${i} (${describeIdentity(id)}) is not among the guest's PCI functions` +
        `${seen.length ? `; with its ids: ${seen.join(', ')}` : ''}`);
    }
    throw new IdentifyError(`device ${i} (${describeIdentity(id)}) matches several guest PCI functions: ${seen.join(', ')}`);
  });
}

function hex(n: number, w: number): string {
  return n.toString(16).padStart(w, '0');
}
