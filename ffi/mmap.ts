// Shared mappings of a peer's memory (guest RAM sent with DMA_MAP). Touching a
// view after munmap kills the process with SIGSEGV, so the only way in is a
// MappedRegion whose accessors check that it is still mapped.
import { koffi, libc, MAP_SHARED, PROT_READ, PROT_WRITE, MFD_CLOEXEC } from './libc.ts';
import { check, SysError } from './errors.ts';

const PAGE = 4096;
const MAP_FAILED = 0xffffffffffffffffn;

export class MappedRegion {
  private ptr: unknown;
  private bytes: Uint8Array | null;
  private readonly mappedLength: number;

  private constructor(ptr: unknown, mappedLength: number, skew: number, readonly length: number, readonly writable: boolean) {
    this.ptr = ptr;
    this.mappedLength = mappedLength;
    this.bytes = new Uint8Array(koffi.view(ptr, mappedLength), skew, length);
  }

  /** Maps `length` bytes of `fd` from `offset` (need not be page aligned). */
  static map(fd: number, offset: bigint, length: number, writable: boolean): MappedRegion {
    if (length <= 0 || !Number.isSafeInteger(length)) throw new SysError('mmap', 22, `length ${length}`);
    const skew = Number(offset % BigInt(PAGE));
    const mappedLength = length + skew;
    const prot = PROT_READ | (writable ? PROT_WRITE : 0);
    const ptr = libc.mmap(null, mappedLength, prot, MAP_SHARED, fd, Number(offset - BigInt(skew)));
    if (ptr === null || koffi.address(ptr) === MAP_FAILED) throw new SysError('mmap', koffi.errno(), `fd ${fd}, ${length} bytes at ${offset}`);
    return new MappedRegion(ptr, mappedLength, skew, length, writable);
  }

  get mapped(): boolean {
    return this.bytes !== null;
  }

  private view(): Uint8Array {
    if (!this.bytes) throw new SysError('mmap access', 14 /* EFAULT */, 'region was unmapped');
    return this.bytes;
  }

  /** Copies out `length` bytes from `offset` (bounds checked). */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    const v = this.view();
    if (offset < 0 || length < 0 || offset + length > this.length) throw new SysError('mmap read', 14, `${length} bytes at ${offset} outside ${this.length}`);
    const out = into ?? new Uint8Array(length);
    out.set(v.subarray(offset, offset + length));
    return out;
  }

  write(offset: number, data: Uint8Array): void {
    const v = this.view();
    if (!this.writable) throw new SysError('mmap write', 13 /* EACCES */, 'region is read-only');
    if (offset < 0 || offset + data.length > this.length) throw new SysError('mmap write', 14, `${data.length} bytes at ${offset} outside ${this.length}`);
    v.set(data, offset);
  }

  unmap(): void {
    if (!this.bytes) return;
    this.bytes = null;
    libc.munmap(this.ptr, this.mappedLength);
    this.ptr = null;
  }
}

/** An anonymous shared-memory file (memfd) of `size` bytes. */
export function createMemFd(name: string, size: number): number {
  const fd = check('memfd_create', libc.memfd_create(name, MFD_CLOEXEC));
  if (libc.ftruncate(fd, size) === -1) {
    const e = koffi.errno();
    libc.close(fd);
    throw new SysError('ftruncate', e, `memfd ${name}`);
  }
  return fd;
}
