// The data side of pci-epf-test's READ, WRITE and COPY commands: the device
// moves host memory with its own DMA, in pieces, and computes the CRC the
// host driver checks. Each returns the status bits the command ends with.
import { randomFillSync } from 'node:crypto';
import { crc32Le, CRC_SEED } from './crc32.ts';

export const STATUS_READ_SUCCESS = 1 << 0;
export const STATUS_READ_FAIL = 1 << 1;
export const STATUS_WRITE_SUCCESS = 1 << 2;
export const STATUS_WRITE_FAIL = 1 << 3;
export const STATUS_COPY_SUCCESS = 1 << 4;
export const STATUS_COPY_FAIL = 1 << 5;
export const STATUS_SRC_ADDR_INVALID = 1 << 7;
export const STATUS_DST_ADDR_INVALID = 1 << 8;

/** What a transfer needs from the device: its DMA, and a way to stop (reset). */
export interface DmaPort {
  read(address: bigint, length: number): Promise<Uint8Array>;
  write(address: bigint, data: Uint8Array, opts: { posted: boolean }): Promise<void>;
  /** True once the command was cancelled (device reset): stop issuing DMA. */
  cancelled(): boolean;
}

/**
 * The largest single DMA request. QEMU 11.1.3 answers a DMA_READ with one
 * non-blocking write and sends only part of it when its socket buffer
 * (~214 KiB) is full, which corrupts the stream (FINDINGS 7, issue 18). Until
 * the DMA layer splits requests itself, the device keeps each piece well below
 * that; this function and its uses go when it does.
 */
export const DMA_PIECE = 64 * 1024;

export function* pieces(address: bigint, length: number, piece = DMA_PIECE): Generator<{ at: bigint; offset: number; length: number }> {
  for (let offset = 0; offset < length; offset += piece) {
    yield { at: address + BigInt(offset), offset, length: Math.min(piece, length - offset) };
  }
}

class Cancelled extends Error {}

/** Device reads host memory at `src` and compares the CRC with `checksum` (the host's WRITE test). */
export async function readAndCheck(dma: DmaPort, src: bigint, size: number, checksum: number): Promise<number> {
  let crc = CRC_SEED;
  try {
    for (const p of pieces(src, size)) {
      if (dma.cancelled()) throw new Cancelled();
      crc = crc32Le(crc, await dma.read(p.at, p.length));
    }
  } catch (err) {
    if (err instanceof Cancelled) return 0;
    return STATUS_SRC_ADDR_INVALID | STATUS_READ_FAIL;
  }
  return crc === checksum >>> 0 ? STATUS_READ_SUCCESS : STATUS_READ_FAIL;
}

/**
 * Device writes random bytes to host memory at `dst` and returns their CRC
 * for the CHECKSUM register (the host's READ test). The last piece is a
 * non-posted write: its completion says every piece before it has landed, so
 * the interrupt raised afterwards cannot overtake the data (PCIe ordering;
 * eventfd interrupts travel apart from DMA messages in QEMU).
 */
export async function writeRandom(dma: DmaPort, dst: bigint, size: number): Promise<{ status: number; checksum: number }> {
  let crc = CRC_SEED;
  try {
    for (const p of pieces(dst, size)) {
      if (dma.cancelled()) throw new Cancelled();
      const data = randomFillSync(new Uint8Array(p.length));
      crc = crc32Le(crc, data);
      await dma.write(p.at, data, { posted: p.offset + p.length < size });
    }
  } catch (err) {
    if (err instanceof Cancelled) return { status: 0, checksum: 0 };
    return { status: STATUS_DST_ADDR_INVALID | STATUS_WRITE_FAIL, checksum: crc };
  }
  return { status: STATUS_WRITE_SUCCESS, checksum: crc };
}

/** Device copies `size` bytes from `src` to `dst`, piece by piece (the host's COPY test). */
export async function copy(dma: DmaPort, src: bigint, dst: bigint, size: number): Promise<number> {
  for (const p of pieces(src, size)) {
    if (dma.cancelled()) return 0;
    let data: Uint8Array;
    try {
      data = await dma.read(p.at, p.length);
    } catch {
      return STATUS_SRC_ADDR_INVALID | STATUS_COPY_FAIL;
    }
    try {
      await dma.write(dst + BigInt(p.offset), data, { posted: p.offset + p.length < size });
    } catch {
      return STATUS_DST_ADDR_INVALID | STATUS_COPY_FAIL;
    }
  }
  return STATUS_COPY_SUCCESS;
}
