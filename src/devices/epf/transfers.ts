// The data side of pci-epf-test's READ, WRITE and COPY commands: the device
// moves host memory with its own DMA and computes the CRC the host driver
// checks (crc32_le(~0, buf, len)). Each returns the status bits the command
// ends with. The DMA layer cuts long transfers into pieces QEMU survives,
// and the completion interrupt raised afterwards waits for the posted writes
// before it (PCIe ordering): nothing here has to care.
import { randomFillSync } from 'node:crypto';
import { crc32Le } from '../../dma/crc32.ts';

export const STATUS_READ_SUCCESS = 1 << 0;
export const STATUS_READ_FAIL = 1 << 1;
export const STATUS_WRITE_SUCCESS = 1 << 2;
export const STATUS_WRITE_FAIL = 1 << 3;
export const STATUS_COPY_SUCCESS = 1 << 4;
export const STATUS_COPY_FAIL = 1 << 5;
export const STATUS_SRC_ADDR_INVALID = 1 << 7;
export const STATUS_DST_ADDR_INVALID = 1 << 8;

/** What pci_endpoint_test computes for a buffer: crc32_le(~0, data, len). */
export const CRC_SEED = 0xffffffff;

/** What a transfer needs from the device: its DMA, cancelled by `signal` (a reset). */
export interface DmaPort {
  read(address: bigint, length: number, opts: { signal: AbortSignal }): Promise<Uint8Array>;
  write(address: bigint, data: Uint8Array, opts: { signal: AbortSignal }): Promise<void>;
  signal: AbortSignal;
}

/** A failure of the command, or the reset that cancelled it (then it reports nothing). */
const failed = (dma: DmaPort, status: number) => (dma.signal.aborted ? 0 : status);

/** Device reads host memory at `src` and compares the CRC with `checksum` (the host's WRITE test). */
export async function readAndCheck(dma: DmaPort, src: bigint, size: number, checksum: number): Promise<number> {
  let data: Uint8Array;
  try {
    data = await dma.read(src, size, { signal: dma.signal });
  } catch {
    return failed(dma, STATUS_SRC_ADDR_INVALID | STATUS_READ_FAIL);
  }
  return crc32Le(CRC_SEED, data) === checksum >>> 0 ? STATUS_READ_SUCCESS : STATUS_READ_FAIL;
}

/**
 * Device writes random bytes to host memory at `dst` (posted) and returns
 * their CRC for the CHECKSUM register (the host's READ test).
 */
export async function writeRandom(dma: DmaPort, dst: bigint, size: number): Promise<{ status: number; checksum: number }> {
  const data = randomFillSync(new Uint8Array(size));
  const checksum = crc32Le(CRC_SEED, data);
  try {
    await dma.write(dst, data, { signal: dma.signal });
  } catch {
    return { status: failed(dma, STATUS_DST_ADDR_INVALID | STATUS_WRITE_FAIL), checksum };
  }
  return { status: STATUS_WRITE_SUCCESS, checksum };
}

/** Device copies `size` bytes from `src` to `dst` (the host's COPY test). */
export async function copy(dma: DmaPort, src: bigint, dst: bigint, size: number): Promise<number> {
  let data: Uint8Array;
  try {
    data = await dma.read(src, size, { signal: dma.signal });
  } catch {
    return failed(dma, STATUS_SRC_ADDR_INVALID | STATUS_COPY_FAIL);
  }
  try {
    await dma.write(dst, data, { signal: dma.signal });
  } catch {
    return failed(dma, STATUS_DST_ADDR_INVALID | STATUS_COPY_FAIL);
  }
  return STATUS_COPY_SUCCESS;
}
