// The device's own memory accesses (IMS slot reads, message writes, MSI-X
// table probes, a device model's DMA) on their way to the client's memory.
// Hooks see each one first and may drop, damage or hold it: fault rules today
// (src/faults/access.ts); splitting a transfer into pieces or ordering it
// against interrupts would sit here too.
import { Errno, VfioError } from '../protocol/index.ts';
import type { DmaSpace } from './dma-space.ts';

export type DmaDirection = 'read' | 'write';

/**
 * What a hook decides about one access: undefined lets it through; 'corrupt'
 * damages the data on the way (its first byte inverted, as a bad link or a bad
 * buffer would).
 */
export type DmaVerdict = 'drop' | 'corrupt' | { delay: number } | undefined;

export interface DeviceDmaHook {
  dma(direction: DmaDirection, address: bigint, length: number): DmaVerdict;
}

export class DeviceDma {
  /** Consulted in order for every access; the first verdict wins. */
  readonly hooks: DeviceDmaHook[] = [];

  /** `space`: the attached client's memory, or null while no client is attached. */
  constructor(private readonly space: () => DmaSpace | null) {}

  private verdict(direction: DmaDirection, address: bigint, length: number): DmaVerdict {
    for (const h of this.hooks) {
      const v = h.dma(direction, address, length);
      if (v) return v;
    }
    return undefined;
  }

  /** A read by the device; a dropped one fails with EIO (the device sees a completion timeout). */
  async read(address: bigint, length: number): Promise<Uint8Array> {
    const space = this.space();
    if (!space) throw new VfioError(Errno.ENOTCONN, 'no client attached: no memory to read');
    const v = this.hooks.length ? this.verdict('read', address, length) : undefined;
    if (v === 'drop') throw new VfioError(Errno.EIO, `fault: DMA read of 0x${address.toString(16)} dropped`);
    if (typeof v === 'object') await new Promise((r) => setTimeout(r, v.delay));
    const data = space.readLocal(address, length) ?? (await space.read(address, length));
    return v === 'corrupt' ? corrupted(data) : data;
  }

  /** A write by the device, posted unless told otherwise; a dropped one simply never happens. */
  async write(address: bigint, data: Uint8Array, opts: { posted?: boolean } = { posted: true }): Promise<void> {
    const space = this.space();
    if (!space) throw new VfioError(Errno.ENOTCONN, 'no client attached: no memory to write');
    const v = this.hooks.length ? this.verdict('write', address, data.length) : undefined;
    if (v === 'drop') return;
    if (typeof v === 'object') await new Promise((r) => setTimeout(r, v.delay));
    await space.write(address, v === 'corrupt' ? corrupted(data) : data, opts);
  }
}

/** A copy with its first byte inverted. */
function corrupted(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data);
  if (out.length) out[0] ^= 0xff;
  return out;
}
