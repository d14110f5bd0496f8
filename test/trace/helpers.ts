// Trace test helpers: a recorded session against the reference device, and
// reading a trace back into an array.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Region, IrqIndex } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, IMS_TABLE_OFFSET } from '../../src/devices/ims-queue.ts';
import * as R from '../../src/pci/regs.ts';
import { TraceRecorder, readTrace, type TraceRecord, type ReadOptions } from '../../src/trace/index.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

export const IMS_SLOT = 3;
export const IMS_ADDRESS = 0xfee00000n;
export const IMS_DATA = 0x31;
export const MSIX_VECTOR = 2;

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-trace-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function records(file: string, opts?: ReadOptions): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  for await (const r of readTrace(file, opts)) out.push(r);
  return out;
}

/**
 * A client session recorded to `file`: config reads, a BAR write (posted and
 * not), MSI-X vectors bound to eventfds and one fired, IMS slot 3 programmed
 * and fired into the client's (unshared) memory as a DMA_WRITE, a reset,
 * then the client leaves.
 */
export async function recordSession(file: string): Promise<TraceRecorder> {
  const rec = await TraceRecorder.open(file, { deviceName: 'ims-queue' });
  const h = startServer(new ImsQueueDevice(), { tap: rec.tap });
  rec.attach({ server: h.server, device: h.device });
  try {
    const c = await h.connect();
    await c.configRead32(0);
    await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
    await c.write32(0, Reg.SCRATCH, 0x1234abcd, { posted: true });
    await c.read32(0, Reg.SCRATCH);
    const evs = await c.bindEventfds(IrqIndex.MSIX, 0, 4);
    await c.write16(Region.CONFIG, h.device.caps.msix! + R.PCI_MSIX_FLAGS, R.PCI_MSIX_FLAGS_ENABLE);
    for (let v = 0; v < 4; v++) await c.write32(2, v * 16 + 12, 0);
    h.device.fireMsix(MSIX_VECTOR);
    await eventually('the MSI-X eventfd', () => evs[MSIX_VECTOR].total === 1);
    // The interrupt window is exported without a descriptor, so the device's
    // message write arrives as a DMA_WRITE (shared memory would take it silently).
    await c.dmaMap(IMS_ADDRESS, 0x1000, { shareFd: false });
    const slot = IMS_TABLE_OFFSET + IMS_SLOT * 16;
    await c.write32(0, slot, Number(IMS_ADDRESS));
    await c.write32(0, slot + 8, IMS_DATA);
    await c.write32(0, slot + 12, 0);
    h.device.fireIms(IMS_SLOT);
    await eventually('the IMS message write', () => c.memory.msis.length === 1);
    await c.reset();
    c.close();
    await eventually('the session to end', () => h.server.session === null);
    await rec.close();
    return rec;
  } finally {
    h.close();
  }
}
