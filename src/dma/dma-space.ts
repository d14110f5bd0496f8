// The client's memory as the device sees it: the windows DMA_MAP announced,
// reached through an mmap of the descriptor that came with the map (when the
// client shares its memory) or through DMA_READ/DMA_WRITE messages otherwise.
// All access goes through here, so DMA_UNMAP can invalidate a mapping and no
// view into unmapped memory survives (that would be a SIGSEGV).
import { MappedRegion, closeFd, unsafeToMap, outsideFile } from '../../ffi/index.ts';
import {
  Command, Errno, VfioError, DMA_MAP_READ, DMA_MAP_WRITE,
  encodeDmaRead, encodeDmaData, decodeDmaData, type DmaMap,
} from '../protocol/index.ts';
import type { Reply } from '../transport/connection.ts';

export interface DmaWindow {
  address: bigint;
  size: bigint;
  readable: boolean;
  writable: boolean;
  /** Present when the client shared the memory with a descriptor. */
  region?: MappedRegion;
}

/** Sends one of our own requests to the client. */
export type DmaRequester = (command: number, payload: Uint8Array, noReply: boolean) => Promise<Reply>;

/** Sees DMA to shared memory, which sends no message (traces). */
export type DmaObserver = (op: 'read' | 'write', address: bigint, data: Uint8Array) => void;

const U64_MAX = (1n << 64n) - 1n;

export class DmaSpace {
  private windows: DmaWindow[] = [];

  constructor(
    private readonly requester: DmaRequester,
    private readonly limits: { maxMaps: number; maxXfer: () => number; observe?: DmaObserver; log?: (line: string) => void },
  ) {}

  get count(): number {
    return this.windows.length;
  }

  list(): readonly DmaWindow[] {
    return this.windows;
  }

  /** DMA_MAP. Takes ownership of `fd` (closed here once mapped, or on failure). */
  map(m: DmaMap, fd: number | undefined): void {
    try {
      if (m.size === 0n) throw new VfioError(Errno.EINVAL, 'DMA_MAP: size 0');
      if (m.address + m.size - 1n > U64_MAX) throw new VfioError(Errno.EINVAL, `DMA_MAP: 0x${m.address.toString(16)} + 0x${m.size.toString(16)} wraps`);
      if (m.flags & ~(DMA_MAP_READ | DMA_MAP_WRITE)) throw new VfioError(Errno.EINVAL, `DMA_MAP: unknown flags 0x${m.flags.toString(16)}`);
      if (this.windows.length >= this.limits.maxMaps) throw new VfioError(Errno.ENOSPC, `DMA_MAP: already ${this.windows.length} windows (max_dma_maps)`);
      const clash = this.windows.find((w) => m.address < w.address + w.size && w.address < m.address + m.size);
      if (clash) {
        throw new VfioError(Errno.EEXIST, `DMA_MAP: [0x${m.address.toString(16)}, +0x${m.size.toString(16)}) overlaps [0x${clash.address.toString(16)}, +0x${clash.size.toString(16)})`);
      }
      const w: DmaWindow = { address: m.address, size: m.size, readable: (m.flags & DMA_MAP_READ) !== 0, writable: (m.flags & DMA_MAP_WRITE) !== 0 };
      if (fd !== undefined) {
        if (m.size > BigInt(Number.MAX_SAFE_INTEGER)) throw new VfioError(Errno.EINVAL, 'DMA_MAP: size too large to map');
        // Touching a mapping past the end of its file is SIGBUS: a window
        // beyond the file is refused; one in a file that could shrink later is
        // reached by message instead of mapped.
        const outside = outsideFile(fd, m.offset, m.size);
        if (outside) throw new VfioError(Errno.EINVAL, `DMA_MAP [0x${m.address.toString(16)}, +0x${m.size.toString(16)}): ${outside}`);
        const why = unsafeToMap(fd);
        if (why) {
          this.limits.log?.(`DMA_MAP [0x${m.address.toString(16)}, +0x${m.size.toString(16)}): not mapping it (${why}); the device reaches it by DMA_READ/DMA_WRITE`);
        } else {
          try {
            w.region = MappedRegion.map(fd, m.offset, Number(m.size), w.writable);
          } catch (err) {
            throw new VfioError((err as { errno?: number }).errno ?? Errno.EINVAL, `DMA_MAP: ${(err as Error).message}`);
          }
        }
      }
      this.windows.push(w);
      this.windows.sort((a, b) => (a.address < b.address ? -1 : 1));
    } finally {
      // The mapping keeps the memory alive; the descriptor is not needed.
      if (fd !== undefined) closeFd(fd);
    }
  }

  /**
   * DMA_UNMAP. The spec wants an exact match; QEMU with a vIOMMU also unmaps
   * large ranges covering several mappings, or none. So: every mapping inside
   * the range goes; a range that cuts a mapping in two is refused (a window is
   * mapped whole or not at all); a range covering nothing is a no-op.
   * Returns how many windows went.
   */
  unmap(address: bigint, size: bigint): number {
    const end = address + size;
    const cut = this.windows.find((w) => w.address < end && address < w.address + w.size && (w.address < address || w.address + w.size > end));
    if (cut) {
      throw new VfioError(Errno.EINVAL, `DMA_UNMAP: [0x${address.toString(16)}, +0x${size.toString(16)}) cuts through the mapping [0x${cut.address.toString(16)}, +0x${cut.size.toString(16)})`);
    }
    const gone = this.windows.filter((w) => w.address >= address && w.address + w.size <= end);
    for (const w of gone) w.region?.unmap();
    this.windows = this.windows.filter((w) => !gone.includes(w));
    return gone.length;
  }

  unmapAll(): void {
    for (const w of this.windows) w.region?.unmap();
    this.windows = [];
  }

  /** The mapped window holding all of [address, address+length), if any. */
  private windowFor(address: bigint, length: number): DmaWindow | undefined {
    const end = address + BigInt(length);
    return this.windows.find((w) => address >= w.address && end <= w.address + w.size);
  }

  /** Reads guest memory now if it is shared with us; undefined if it needs messages. */
  readLocal(address: bigint, length: number): Uint8Array | undefined {
    const w = this.windowFor(address, length);
    if (!w?.region) return undefined;
    if (!w.readable) throw new VfioError(Errno.EFAULT, `DMA read of 0x${address.toString(16)}: window is not readable`);
    const data = w.region.read(Number(address - w.address), length);
    this.limits.observe?.('read', address, data);
    return data;
  }

  /** Writes guest memory now if it is shared with us; false if it needs messages. */
  writeLocal(address: bigint, data: Uint8Array): boolean {
    const w = this.windowFor(address, data.length);
    if (!w?.region) return false;
    if (!w.writable) throw new VfioError(Errno.EFAULT, `DMA write to 0x${address.toString(16)}: window is not writable`);
    w.region.write(Number(address - w.address), data);
    this.limits.observe?.('write', address, data);
    return true;
  }

  /** Bus addresses are 64 bits: an access that would wrap past 2^64 is refused. */
  private checkSpan(address: bigint, length: number, what: string): void {
    if (address < 0n || address + BigInt(length) > U64_MAX + 1n) {
      throw new VfioError(Errno.EFAULT, `${what} of ${length} bytes at 0x${address.toString(16)} runs past the end of the 64-bit address space`);
    }
  }

  /** The largest payload of one DMA_READ or DMA_WRITE: DMA_PIECE, or less if the client said so. */
  get piece(): number {
    return Math.max(1, Math.min(DMA_PIECE, this.limits.maxXfer()));
  }

  /**
   * Reads from the device's bus-master address space: shared memory directly,
   * anything else by DMA_READ (the client decides what the address reaches),
   * in pieces of at most `piece` bytes, a few in flight at once, put back
   * together in order. `signal` stops it between pieces.
   */
  async read(address: bigint, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.checkSpan(address, length, 'DMA read');
    signal?.throwIfAborted();
    const local = this.readLocal(address, length);
    if (local) return local;
    const out = new Uint8Array(length);
    await inPieces(length, this.piece, async (done, count) => {
      signal?.throwIfAborted();
      const at = address + BigInt(done);
      const reply = await this.requester(Command.DMA_READ, encodeDmaRead({ address: at, count }), false);
      const d = decodeDmaData(reply.payload, 'DMA_READ reply');
      if (d.count !== count || d.address !== at) {
        throw new VfioError(Errno.EIO, `DMA_READ reply for ${d.count} bytes at 0x${d.address.toString(16)}, asked ${count} at 0x${at.toString(16)}`);
      }
      out.set(d.data, done);
    });
    return out;
  }

  /**
   * Writes to the bus-master address space, like a device's memory write, in
   * pieces of at most `piece` bytes. Posted: every piece is handed to the
   * socket now and nothing waits (an MSI is such a write to the interrupt
   * window, 0xFEExxxxx on x86). Not posted: resolves once the client has
   * acknowledged every piece (a few in flight at once), or fails with the
   * first error. An empty write is one message with no data.
   */
  async write(address: bigint, data: Uint8Array, opts: { posted?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    this.checkSpan(address, data.length, 'DMA write');
    opts.signal?.throwIfAborted();
    if (this.writeLocal(address, data)) return;
    await this.sendWrite(address, data, opts);
  }

  /** write() for a caller that has found writeLocal() false already (the device's DMA): by message only. */
  async writeByMessage(address: bigint, data: Uint8Array, opts: { posted?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    this.checkSpan(address, data.length, 'DMA write');
    opts.signal?.throwIfAborted();
    await this.sendWrite(address, data, opts);
  }

  private async sendWrite(address: bigint, data: Uint8Array, opts: { posted?: boolean; signal?: AbortSignal }): Promise<void> {
    const send = (done: number, count: number) => {
      const chunk = data.subarray(done, done + count);
      return this.requester(Command.DMA_WRITE, encodeDmaData({ address: address + BigInt(done), count, data: chunk }), opts.posted === true);
    };
    if (data.length === 0) {
      await send(0, 0);
      return;
    }
    const piece = this.piece;
    if (opts.posted) {
      // Handed to the socket in one go, in order; nothing comes back to wait
      // for (the promises only fail if the connection is gone).
      const sent: Promise<unknown>[] = [];
      for (let done = 0; done < data.length; done += piece) sent.push(send(done, Math.min(piece, data.length - done)));
      await Promise.all(sent);
      return;
    }
    await inPieces(data.length, piece, async (done, count) => {
      opts.signal?.throwIfAborted();
      await send(done, count);
    });
  }

  /**
   * A zero-length read at `address` (PCIe's way to flush posted writes): the
   * client performs requests in order, so its reply says every write sent
   * before it has landed.
   */
  async flush(address: bigint): Promise<void> {
    const reply = await this.requester(Command.DMA_READ, encodeDmaRead({ address, count: 0 }), false);
    decodeDmaData(reply.payload, 'DMA_READ reply');
  }
}

/**
 * The largest DMA message payload the device sends or asks for: 32 KiB.
 * QEMU 11.1 writes each of its messages to the socket with one non-blocking
 * write and treats a partial write as complete, so a DMA_READ reply the
 * socket takes only in part corrupts the stream for good. Linux queues an
 * AF_UNIX stream write in buffers of at most 32 KiB plus one small head
 * (36544 bytes with 4 KiB pages); it takes a message of one such buffer
 * whole or not at all (QEMU then queues it and retries), while a longer one
 * is cut where the sender's buffer (about 208 KiB) fills. A 32 KiB reply plus
 * its 32 header bytes is always one buffer, however full the socket is.
 * README, "Things to know about QEMU", has the experiment.
 */
export const DMA_PIECE = 32 * 1024;

/** Pieces in flight at once: enough to keep the client busy, few enough to bound what waits. */
const IN_FLIGHT = 8;

/** Runs `step` over [0, length) in pieces of `piece` bytes, IN_FLIGHT at a time; the first failure wins. */
async function inPieces(length: number, piece: number, step: (done: number, count: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < length && !failed) {
      const done = next;
      const count = Math.min(piece, length - done);
      next += count;
      try {
        await step(done, count);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Math.min(IN_FLIGHT, Math.ceil(length / piece));
  const results = await Promise.allSettled(Array.from({ length: workers }, worker));
  const bad = results.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
}
