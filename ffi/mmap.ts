// Shared mappings of a peer's memory (guest RAM sent with DMA_MAP). Touching a
// view after munmap kills the process with SIGSEGV, so the only way in is a
// MappedRegion whose accessors check that it is still mapped. A region is
// mapped in 1 GiB chunks, each viewed on first use: koffi cannot make one view
// of more than 4 GiB (and aborts the process when asked to).
import { fstatSync } from 'node:fs';
import { koffi, libc, MAP_SHARED, PROT_READ, PROT_WRITE, MFD_CLOEXEC } from './libc.ts';
import { check, SysError, Errno } from './errors.ts';

const PAGE = 4096;
const CHUNK = 1 << 30;
const MAP_FAILED = 0xffffffffffffffffn;
const MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
export const F_SEAL_SHRINK = 2;
export const F_SEAL_GROW = 4;

export class MappedRegion {
  /** One mmap per 1 GiB chunk (and its view, made on first use). */
  private readonly maps: { ptr: unknown; length: number; view?: Uint8Array }[];
  private live = true;

  private constructor(maps: { ptr: unknown; length: number }[], private readonly skew: number, readonly length: number, readonly writable: boolean) {
    this.maps = maps;
  }

  /** Maps `length` bytes of `fd` from `offset` (need not be page aligned). */
  static map(fd: number, offset: bigint, length: number, writable: boolean): MappedRegion {
    if (length <= 0 || !Number.isSafeInteger(length)) throw new SysError('mmap', Errno.EINVAL, `length ${length}`);
    const skew = Number(offset % BigInt(PAGE));
    const start = offset - BigInt(skew);
    const total = length + skew;
    const prot = PROT_READ | (writable ? PROT_WRITE : 0);
    const maps: { ptr: unknown; length: number }[] = [];
    for (let at = 0; at < total; at += CHUNK) {
      const len = Math.min(CHUNK, total - at);
      const ptr = libc.mmap(null, len, prot, MAP_SHARED, fd, Number(start + BigInt(at)));
      if (ptr === null || koffi.address(ptr) === MAP_FAILED) {
        const e = koffi.errno();
        for (const m of maps) libc.munmap(m.ptr, m.length);
        throw new SysError('mmap', e, `fd ${fd}, ${len} bytes at ${start + BigInt(at)}`);
      }
      maps.push({ ptr, length: len });
    }
    return new MappedRegion(maps, skew, length, writable);
  }

  get mapped(): boolean {
    return this.live;
  }

  private chunk(i: number): Uint8Array {
    const m = this.maps[i];
    m.view ??= new Uint8Array(koffi.view(m.ptr, m.length));
    return m.view;
  }

  /** Calls fn for each piece of [offset, offset+length) with its chunk view and positions. */
  private walk(offset: number, length: number, what: string, fn: (view: Uint8Array, at: number, done: number, n: number) => void): void {
    if (!this.live) throw new SysError(what, Errno.EFAULT, 'region was unmapped');
    if (offset < 0 || length < 0 || offset + length > this.length) throw new SysError(what, Errno.EFAULT, `${length} bytes at ${offset} outside ${this.length}`);
    let pos = offset + this.skew;
    let done = 0;
    while (done < length) {
      const i = Math.floor(pos / CHUNK);
      const at = pos - i * CHUNK;
      const n = Math.min(length - done, CHUNK - at);
      fn(this.chunk(i), at, done, n);
      done += n;
      pos += n;
    }
  }

  /** Copies out `length` bytes from `offset` (bounds checked). */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    const out = into ?? new Uint8Array(length);
    this.walk(offset, length, 'mmap read', (v, at, done, n) => out.set(v.subarray(at, at + n), done));
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    if (!this.writable) throw new SysError('mmap write', Errno.EACCES, 'region is read-only');
    this.walk(offset, data.length, 'mmap write', (v, at, done, n) => v.set(data.subarray(done, done + n), at));
  }

  unmap(): void {
    if (!this.live) return;
    this.live = false;
    for (const m of this.maps) {
      m.view = undefined;
      libc.munmap(m.ptr, m.length);
      m.ptr = null;
    }
  }
}

/** Why bytes [offset, offset+length) are not in `fd`'s file, or undefined when they are. */
export function outsideFile(fd: number, offset: bigint, length: bigint): string | undefined {
  let size: bigint;
  try {
    size = BigInt(fstatSync(fd).size);
  } catch (err) {
    return `cannot stat the descriptor (${(err as Error).message})`;
  }
  return offset + length > size ? `the file is ${size} bytes, the window needs ${offset + length}` : undefined;
}

/**
 * Whether a mapping of `fd` can be touched without SIGBUS later too: the file
 * must be sealed against shrinking (a memfd with F_SEAL_SHRINK; QEMU seals its
 * memfd backends). Returns why not, or undefined when it can.
 */
export function unsafeToMap(fd: number): string | undefined {
  const seals = libc.fcntl(fd, F_GET_SEALS, 0);
  if (seals === -1 || !(seals & F_SEAL_SHRINK)) return 'the file is not sealed against shrinking (F_SEAL_SHRINK): it could shrink under the mapping';
  return undefined;
}

/** An anonymous shared-memory file (memfd) of `size` bytes, sealed against resizing unless told not to. */
export function createMemFd(name: string, size: number, opts: { seal?: boolean } = {}): number {
  const seal = opts.seal !== false;
  const fd = check('memfd_create', libc.memfd_create(name, MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0)));
  if (libc.ftruncate(fd, size) === -1 || (seal && libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) === -1)) {
    const e = koffi.errno();
    libc.close(fd);
    throw new SysError('memfd set-up', e, `memfd ${name}`);
  }
  return fd;
}
