// The libc boundary: everything irqlab does below Node's own APIs.
export { SysError } from './errors.ts';
export { Errno, errnoName, errnoByName } from './errno.ts';
export { closeFd, closeFds, dupFd, isFdOpen, openFdCount, setNonBlocking } from './fd.ts';
export { FdPoller, type Readiness } from './poll.ts';
export { UnixListener, listenUnix, connectUnix, socketPair, peerCred, type PeerCred, type ListenOptions } from './unix-socket.ts';
export { SocketStream, type RecvResult, type StreamHandlers } from './stream.ts';
export { EventFd, createEventFd, signalEventFd, drainEventFd, adoptEventFd } from './eventfd.ts';
export { MappedRegion, createMemFd, unsafeToMap, outsideFile } from './mmap.ts';
export { yieldCpu } from './sched.ts';
export { allocNative, freeNative, type NativeBuffer } from './libc.ts';
