// The vfio-user server: a UNIX socket, one client at a time. A second client
// is told plainly that the device is busy and the first is left alone; when a
// client goes, the device is reset and the next one is accepted.
import { EventEmitter } from 'node:events';
import { UnixListener, peerCred, closeFd, type PeerCred } from '../../ffi/index.ts';
import { Errno, VfioError } from '../protocol/index.ts';
import { Connection } from '../transport/connection.ts';
import { defaultLimits, type DeviceModel, type ServerLimits } from '../device/model.ts';
import type { Tap } from '../transport/connection.ts';
import type { DmaObserver } from '../dma/dma-space.ts';
import { checkPollUs, pollUsFromEnv } from '../transport/poll-mode.ts';
import { Session, type Interceptor } from './session.ts';

export interface ServerOptions {
  /** Socket path; created with mode 0600, a stale socket file is replaced. */
  socketPath: string;
  /** Listen on this already listening descriptor instead (socketPath then only names it). */
  listenFd?: number;
  limits?: Partial<ServerLimits>;
  /** uids besides our own allowed to connect (SO_PEERCRED check). */
  allowUids?: number[];
  /** Accept any uid (the socket's file mode still applies). */
  allowAnyUid?: boolean;
  log?: (line: string) => void;
  dmaTimeoutMs?: number;
  /**
   * Interceptors on every command (tracing, accounting, your own faults),
   * outermost first; they run inside the device's own (its fault rules).
   */
  interceptors?: Interceptor[];
  /** One interceptor (the same as interceptors: [it]; both may be given, this one outermost). */
  interceptor?: Interceptor;
  tap?: Tap;
  /** Sees DMA to shared memory, which sends no message (traces). */
  dmaObserver?: DmaObserver;
  /**
   * Poll mode: after handling a message, keep trying the socket for up to
   * this many us (adaptive; 0 = off) instead of sleeping in the event loop
   * at once. Default: $IRQLAB_POLL_US, else 0.
   */
  pollUs?: number;
}

export interface ServerEvents {
  connect: [session: Session, peer: PeerCred];
  disconnect: [session: Session, reason: Error | undefined];
  refused: [peer: PeerCred, why: string];
}

export class VfioUserServer extends EventEmitter<ServerEvents> {
  private listener: UnixListener | null = null;
  private active: Session | null = null;
  private readonly limits: ServerLimits;
  private readonly log: (line: string) => void;
  private readonly interceptors: readonly Interceptor[];
  private poll: number;

  constructor(readonly device: DeviceModel, private readonly opts: ServerOptions) {
    super();
    this.poll = opts.pollUs === undefined ? pollUsFromEnv() : checkPollUs(opts.pollUs);
    this.limits = { ...defaultLimits, ...opts.limits };
    this.interceptors = [...(opts.interceptor ? [opts.interceptor] : []), ...(opts.interceptors ?? [])];
    this.log = opts.log ?? ((line) => process.stderr.write(`irqlab: ${line}\n`));
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  get session(): Session | null {
    return this.active;
  }

  /** The poll window (ServerOptions.pollUs); a change applies to the client already connected too. */
  get pollUs(): number {
    return this.poll;
  }

  set pollUs(us: number) {
    this.poll = checkPollUs(us);
    if (this.active) this.active.conn.pollUs = this.poll;
  }

  listen(): this {
    this.listener = new UnixListener(this.opts.socketPath, (fd) => this.onConnection(fd), (err) => this.log(`accept failed: ${(err as Error).message}`), { listenFd: this.opts.listenFd });
    return this;
  }

  private onConnection(fd: number): void {
    let peer: PeerCred;
    try {
      peer = peerCred(fd);
    } catch (err) {
      this.log(`dropping a connection whose credentials cannot be read: ${(err as Error).message}`);
      closeFd(fd);
      return;
    }
    const myUid = process.getuid?.() ?? 0;
    if (!this.opts.allowAnyUid && peer.uid !== myUid && !this.opts.allowUids?.includes(peer.uid)) {
      this.refuse(fd, peer, Errno.EPERM, `uid ${peer.uid} is not allowed (server runs as uid ${myUid}; see --allow-uid)`);
      return;
    }
    // The client before may have gone already with its end not yet read (a
    // connect-and-close health check, a quick reconnect: both arrive in one
    // turn of the event loop, the accept first). Read what it sent, its EOF
    // included, before calling the device busy: if that ends its session, the
    // device is reset (onSessionEnd) and this client is the next one.
    this.active?.conn.catchUp();
    if (this.active) {
      this.refuse(fd, peer, Errno.EBUSY, `device is busy serving another client (pid ${this.active.peer?.pid})`);
      return;
    }
    const session = new Session(fd, this.device, {
      peer,
      limits: this.limits,
      log: this.log,
      dmaTimeoutMs: this.opts.dmaTimeoutMs,
      interceptors: this.interceptors,
      tap: this.opts.tap,
      dmaObserver: this.opts.dmaObserver,
      pollUs: this.poll,
      onEnd: (s, reason) => this.onSessionEnd(s, reason),
    });
    this.active = session;
    this.log(`client connected (pid ${peer.pid}, uid ${peer.uid})`);
    this.emit('connect', session, peer);
  }

  /**
   * A refused client gets an error reply to its first command (its VERSION),
   * with the errno and a log line saying why, then the connection closes.
   */
  private refuse(fd: number, peer: PeerCred, errno: number, why: string): void {
    this.log(`refused client pid ${peer.pid}: ${why}`);
    this.emit('refused', peer, why);
    const conn: Connection = new Connection(fd, {
      onCommand: () => {
        setImmediate(() => conn.close());
        throw new VfioError(errno, why);
      },
      onClose: () => clearTimeout(timer),
    }, { maxMessageSize: 64 * 1024, maxFds: this.limits.maxMsgFds, log: () => {} });
    const timer = setTimeout(() => conn.close(), 5000);
    timer.unref();
  }

  private onSessionEnd(session: Session, reason: Error | undefined): void {
    if (this.active !== session) return;
    this.active = null;
    try {
      this.device.reset();
    } catch (err) {
      this.log(`device reset after disconnect failed: ${(err as Error).message}`);
    }
    this.log(`client disconnected${reason ? `: ${reason.message}` : ''}; device reset, waiting for the next client`);
    this.emit('disconnect', session, reason);
  }

  /** Stops listening, drops the client, removes the socket file. */
  close(): void {
    this.listener?.close();
    this.listener = null;
    this.active?.close();
  }
}
