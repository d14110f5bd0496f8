// The device's own memory accesses (IMS slot reads, message writes, MSI-X
// table probes) on their way to the client's memory, through the fault rules
// for DMA: dropped, corrupted (first byte inverted) or delayed when a rule says so.
import { Errno, VfioError } from '../protocol/index.ts';
import type { DeviceContext } from '../device/model.ts';
import type { FaultEngine } from '../faults/engine.ts';

export async function deviceDmaRead(ctx: DeviceContext | null, faults: FaultEngine, address: bigint, length: number): Promise<Uint8Array> {
  if (!ctx) throw new VfioError(Errno.ENOTCONN, 'no client attached: no memory to read');
  const f = faults.active ? faults.dma('read', address) : undefined;
  if (f === 'drop') throw new VfioError(Errno.EIO, `fault: DMA read of 0x${address.toString(16)} dropped`);
  if (typeof f === 'object') await new Promise((r) => setTimeout(r, f.delay));
  const data = ctx.dma.readLocal(address, length) ?? (await ctx.dma.read(address, length));
  return f === 'corrupt' ? corrupt(data) : data;
}

/** A posted write unless told otherwise; a dropped one simply never happens. */
export async function deviceDmaWrite(ctx: DeviceContext | null, faults: FaultEngine, address: bigint, data: Uint8Array, opts: { posted?: boolean }): Promise<void> {
  if (!ctx) throw new VfioError(Errno.ENOTCONN, 'no client attached: no memory to write');
  const f = faults.active ? faults.dma('write', address) : undefined;
  if (f === 'drop') return;
  if (typeof f === 'object') await new Promise((r) => setTimeout(r, f.delay));
  await ctx.dma.write(address, f === 'corrupt' ? corrupt(data) : data, opts);
}

/** A copy with its first byte inverted: data damaged on the way, as a bad link or a bad buffer would. */
function corrupt(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data);
  if (out.length) out[0] ^= 0xff;
  return out;
}
