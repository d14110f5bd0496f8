// The libc functions irqlab needs and Node does not offer: descriptor passing
// over UNIX sockets, mmap of guest memory, eventfds and memfds. Only this folder
// touches koffi; everything above it sees typed wrappers and SysErrors.
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

// ssize_t is not a koffi built-in (FINDINGS section 6).
koffi.alias('ssize_t', 'intptr_t');
koffi.alias('off_t', 'int64_t');
koffi.alias('socklen_t', 'uint32_t');

export const libc = {
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  socketpair: lib.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)'),
  bind: lib.func('int bind(int fd, const void *addr, socklen_t len)'),
  listen: lib.func('int listen(int fd, int backlog)'),
  accept4: lib.func('int accept4(int fd, void *addr, void *len, int flags)'),
  connect: lib.func('int connect(int fd, const void *addr, socklen_t len)'),
  getsockopt: lib.func('int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ socklen_t *len)'),
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *val, socklen_t len)'),
  shutdown: lib.func('int shutdown(int fd, int how)'),
  close: lib.func('int close(int fd)'),
  recvmsg: lib.func('ssize_t recvmsg(int fd, void *msg, int flags)'),
  sendmsg: lib.func('ssize_t sendmsg(int fd, const void *msg, int flags)'),
  send: lib.func('ssize_t send(int fd, const void *buf, size_t len, int flags)'),
  read: lib.func('ssize_t read(int fd, _Out_ void *buf, size_t len)'),
  write: lib.func('ssize_t write(int fd, const void *buf, size_t len)'),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
  memfd_create: lib.func('int memfd_create(const char *name, unsigned int flags)'),
  ftruncate: lib.func('int ftruncate(int fd, off_t len)'),
  fcntl: lib.func('int fcntl(int fd, int cmd, int arg)'),
  mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)'),
  munmap: lib.func('int munmap(void *addr, size_t len)'),
  memcpy: lib.func('void *memcpy(void *dst, const void *src, size_t n)'),
  sched_yield: lib.func('int sched_yield()'),
};

// Linux x86-64 ABI constants.
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_PEERCRED = 17;
export const SCM_RIGHTS = 1;
export const MSG_CTRUNC = 0x8;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const SHUT_RDWR = 2;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;
export const MFD_CLOEXEC = 1;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const F_GETFD = 1;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;
export const F_DUPFD_CLOEXEC = 1030;

/** Raw stable memory that native code may keep pointers to, with a JS view over it. */
export interface NativeBuffer {
  readonly ptr: unknown;
  readonly address: bigint;
  readonly bytes: Uint8Array;
  readonly view: DataView;
}

export function allocNative(size: number): NativeBuffer {
  const ptr = koffi.alloc('uint8_t', size);
  const ab = koffi.view(ptr, size);
  return { ptr, address: koffi.address(ptr), bytes: new Uint8Array(ab), view: new DataView(ab) };
}

export function freeNative(buf: NativeBuffer): void {
  koffi.free(buf.ptr);
}

export function errno(): number {
  return koffi.errno();
}

export { koffi };
