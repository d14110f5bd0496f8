// One vfio-user connection, either side: cuts the stream into messages and
// their descriptors (the framing of protocol/header.ts), hands commands to a
// handler strictly in arrival order, sends replies (never to a NO_REPLY
// command), and carries our own requests to the peer (DMA_READ/DMA_WRITE from
// a server; everything from a client; their replies: requests.ts). A reply
// never waits on one of our own requests: the handler may only start them.
import { SocketStream, closeFds, SysError } from '../../ffi/index.ts';
import {
  HEADER_SIZE, FLAG_NO_REPLY, FLAG_ERROR, MSG_TYPE_MASK, MsgType, commandName,
} from '../protocol/constants.ts';
import { Errno, VfioError } from '../protocol/errno.ts';
import { readHeader, frame, Reassembler, FramingError, EMPTY, type Header } from '../protocol/header.ts';
import { PendingRequests, type Reply } from './requests.ts';
import { PollLoop, checkPollUs } from './poll-mode.ts';
import { Outbox } from './outbox.ts';

/** A received command as the transport hands it to a handler. */
export class Message {
  constructor(
    readonly header: Header,
    /** Valid only while the handler runs synchronously; copy what you keep. */
    readonly payload: Uint8Array,
    private fds: number[],
  ) {}

  get fdCount(): number {
    return this.fds.length;
  }

  /** Takes ownership of the descriptors that came with this message. */
  takeFds(): number[] {
    const fds = this.fds;
    this.fds = [];
    // An empty list may be the reassembler's shared one: never hand that out.
    return fds.length ? fds : [];
  }

  /** Closes descriptors nobody took (the transport calls this after the handler). */
  release(): void {
    if (this.fds.length) closeFds(this.takeFds());
  }
}

export type ReplyPayload = Uint8Array | undefined;
export type HandlerResult = ReplyPayload | Promise<ReplyPayload>;

export interface ConnectionHandler {
  /**
   * Handles one command. Returns the reply payload (undefined: empty), or a
   * promise of it: the connection then holds later commands until it settles.
   * Throw a VfioError for an error reply.
   */
  onCommand(msg: Message): HandlerResult;
  /** The connection is gone (peer closed, framing error, or close()). */
  onClose?(reason: Error | undefined): void;
}

export type { Reply } from './requests.ts';

/** What the connection saw, for traces and statistics. */
export interface Tap {
  (dir: 'in' | 'out', header: Header, payload: Uint8Array, fdCount: number): void;
}

export interface ConnectionOptions {
  /** Largest message accepted; anything larger means the stream is corrupt. */
  maxMessageSize: number;
  /** Descriptors we accept per message (sizes the control buffer). */
  maxFds: number;
  /** Default timeout for our own requests, ms. */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
  tap?: Tap;
  /**
   * Poll mode: after handling what arrived, keep trying the socket for up to
   * this many us before going back to the event loop (poll-mode.ts). 0: off.
   */
  pollUs?: number;
}

interface Queued {
  header: Header;
  payload: Uint8Array;
  fds: number[];
  fdsTruncated: boolean;
}

/** Commands held while a handler is busy, before we stop reading the socket. */
const MAX_QUEUED_BYTES = 8 << 20;

export class Connection {
  private readonly stream: SocketStream;
  private readonly rx: Reassembler;
  private readonly pending = new PendingRequests();
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private busy = false;
  private closed = false;
  private readonly outbox: Outbox;
  private paused = false;
  private poll: PollLoop | null = null;
  private polledReads = 0;
  private readonly log: (line: string) => void;
  tap: Tap | undefined;

  constructor(fd: number, private readonly handler: ConnectionHandler, private readonly opts: ConnectionOptions) {
    this.log = opts.log ?? (() => {});
    this.tap = opts.tap;
    this.rx = new Reassembler(opts.maxMessageSize);
    this.stream = new SocketStream(fd, {
      onReadable: (hangup) => this.onReadable(hangup),
      onError: (err) => this.close(err instanceof Error ? err : new Error(String(err))),
    }, opts.maxFds);
    this.outbox = new Outbox(this.stream, (err) => this.close(err));
    this.pollUs = opts.pollUs ?? 0;
  }

  /** The poll window's upper bound, us (0: poll mode off). May change at any time. */
  get pollUs(): number {
    return this.poll?.maxUs ?? 0;
  }

  set pollUs(us: number) {
    us = checkPollUs(us);
    if (us === this.pollUs) return;
    this.poll?.close();
    this.poll = us > 0 ? new PollLoop(us, () => !this.closed && !this.busy && !this.paused && this.queue.length === 0, () => this.pollRead()) : null;
  }

  /** Times the socket was found readable while poll mode kept the event loop turning (each spared a wake-up). */
  get polled(): number {
    return this.polledReads;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get fd(): number {
    return this.stream.fd;
  }

  /** Let the process exit even while this connection is open. */
  unref(): void {
    this.stream.unref();
  }

  // ---- receiving -------------------------------------------------------

  /**
   * Reads now what the peer has sent so far, as its next readiness event
   * would. Returns whether the connection is still open: false when the peer
   * had closed its end (the close has now been handled).
   */
  catchUp(): boolean {
    this.onReadable(false, true);
    return !this.closed;
  }

  /** `toEmpty`: read until nothing is waiting (catchUp), not just while reads fill the buffer. */
  private onReadable(hangup = false, toEmpty = false): void {
    if (this.closed) return;
    const poll = this.poll;
    if (poll?.readable()) this.polledReads++;
    this.readBurst(hangup, toEmpty);
    if (poll && !hangup && !toEmpty && !this.closed) poll.handled();
  }

  /** Poll mode's try: read what is there now, without blocking. True when bytes came (then handled). */
  private pollRead(): boolean {
    const got = this.readBurst(false, false);
    if (!got) return false;
    this.polledReads++;
    if (!this.closed) this.poll?.handled();
    return true;
  }

  /** Reads what is there, handles it and sends the replies. True when a read brought bytes. */
  private readBurst(hangup: boolean, toEmpty: boolean): boolean {
    let got = false;
    this.outbox.hold();
    try {
      // The poll is level-triggered: read again only when the last read filled
      // the buffer (more is surely waiting); bounded so one busy peer cannot
      // starve the event loop.
      for (let i = 0; (i < 64 || hangup) && !this.closed; i++) {
        const r = this.stream.recv();
        if (!r) {
          // A peer that hung up and left nothing to read: nothing more will come.
          if (hangup) this.close(undefined);
          break;
        }
        got = true;
        if (r.data.length === 0) {
          closeFds(r.fds);
          this.close(undefined);
          break;
        }
        const full = r.data.length === this.stream.receiveBufferSize;
        this.rx.push(r.data, r.fds, r.ctrunc);
        this.drain();
        if (this.queuedBytes > MAX_QUEUED_BYTES) {
          this.paused = true;
          this.stream.pauseReading();
          break;
        }
        if (!full && !hangup && !toEmpty) break;
      }
    } catch (err) {
      this.close(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.outbox.flush();
    }
    return got;
  }

  private drain(): void {
    for (;;) {
      let raw;
      try {
        raw = this.rx.next();
      } catch (err) {
        if (err instanceof FramingError) this.log(`closing connection: ${err.message}`);
        throw err;
      }
      if (!raw) return;
      const header = raw.header;
      const payload = raw.bytes.subarray(HEADER_SIZE);
      this.tap?.('in', header, payload, raw.fds.length);
      const type = header.flags & MSG_TYPE_MASK;
      if (type === MsgType.REPLY) {
        this.onReply(header, payload, raw.fds);
      } else if (this.busy || this.queue.length) {
        this.queue.push({ header, payload: payload.slice(), fds: raw.fds, fdsTruncated: raw.fdsTruncated });
        this.queuedBytes += payload.length;
      } else {
        this.dispatch(header, payload, raw.fds, raw.fdsTruncated);
      }
      if (this.closed) return;
    }
  }

  private dispatch(header: Header, payload: Uint8Array, fds: number[], fdsTruncated: boolean): void {
    const msg = new Message(header, payload, fds);
    let result: HandlerResult;
    try {
      if ((header.flags & MSG_TYPE_MASK) !== MsgType.COMMAND) {
        throw new VfioError(Errno.EINVAL, `message type ${header.flags & MSG_TYPE_MASK} is neither command nor reply`);
      }
      if (fdsTruncated) {
        throw new VfioError(Errno.EINVAL, `more descriptors than the ${this.opts.maxFds} we accept per message; the rest were dropped`);
      }
      result = this.handler.onCommand(msg);
    } catch (err) {
      msg.release();
      this.answerError(header, err);
      return;
    }
    if (result instanceof Promise) {
      this.busy = true;
      result.then(
        (payload) => { msg.release(); this.answer(header, payload); },
        (err) => { msg.release(); this.answerError(header, err); },
      ).finally(() => {
        this.busy = false;
        this.resumeQueue();
      });
      return;
    }
    msg.release();
    this.answer(header, result);
  }

  private resumeQueue(): void {
    if (this.closed) return;
    this.outbox.hold();
    try {
      while (!this.busy && this.queue.length && !this.closed) {
        const q = this.queue.shift()!;
        this.queuedBytes -= q.payload.length;
        this.dispatch(q.header, q.payload, q.fds, q.fdsTruncated);
      }
    } finally {
      this.outbox.flush();
    }
    if (!this.busy && this.queuedBytes <= MAX_QUEUED_BYTES) {
      this.paused = false;
      this.stream.resumeReading();
      this.poll?.handled();
    }
  }

  private answer(request: Header, payload: ReplyPayload): void {
    if (request.flags & FLAG_NO_REPLY) return; // an unwanted reply desynchronises the peer
    this.queueReply(request, payload ?? EMPTY, MsgType.REPLY, 0);
  }

  private answerError(request: Header, err: unknown): void {
    let errno: number;
    if (err instanceof VfioError) {
      errno = err.errno;
      this.log(`${commandName(request.command)} #${request.id}: ${err.message}`);
    } else if (err instanceof SysError) {
      errno = err.errno;
      this.log(`${commandName(request.command)} #${request.id}: ${err.message}`);
    } else {
      errno = Errno.EIO;
      this.log(`${commandName(request.command)} #${request.id}: internal error: ${(err as Error)?.stack ?? err}`);
    }
    if (request.flags & FLAG_NO_REPLY) return;
    // Error replies carry only the header (spec: "the reply message must only include the reply header").
    this.queueReply(request, EMPTY, MsgType.REPLY | FLAG_ERROR, errno);
  }

  private onReply(header: Header, payload: Uint8Array, fds: number[]): void {
    if (!this.pending.settle(header, payload, fds)) {
      this.log(`ignoring reply #${header.id} (${commandName(header.command)}) that matches no request of ours`);
    }
  }

  // ---- sending ---------------------------------------------------------

  /** A reply to `request` into the outbox, its header written in place. */
  private queueReply(request: Header, payload: Uint8Array, flags: number, error: number): void {
    if (this.closed) return;
    const header = { id: request.id, command: request.command, size: HEADER_SIZE + payload.length, flags, error };
    this.tap?.('out', header, payload, 0);
    this.outbox.message(header, payload);
  }

  private sendRaw(bytes: Uint8Array, fds: readonly number[] = []): void {
    if (this.closed) return;
    if (this.tap) this.tap('out', readHeader(bytes), bytes.subarray(HEADER_SIZE), fds.length);
    this.outbox.send(bytes, fds);
  }

  /**
   * Sends a command to the peer and resolves with its reply. With noReply the
   * promise resolves once the message is handed to the socket.
   */
  request(command: number, payload: Uint8Array, opts: { fds?: readonly number[]; noReply?: boolean; timeoutMs?: number } = {}): Promise<Reply> {
    if (this.closed) return Promise.reject(new VfioError(Errno.ENOTCONN, `cannot send ${commandName(command)}: connection is closed`));
    const id = this.pending.allocId();
    const flags = MsgType.COMMAND | (opts.noReply ? FLAG_NO_REPLY : 0);
    const bytes = frame(id, command, flags, payload);
    if (opts.noReply) {
      this.sendRaw(bytes, opts.fds);
      return Promise.resolve({ header: readHeader(bytes), payload: new Uint8Array(0), fds: [] });
    }
    const reply = this.pending.wait(id, command, opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 5000);
    this.sendRaw(bytes, opts.fds);
    return reply;
  }

  /** Writes bytes as they are (tests of malformed framing). */
  sendBytes(bytes: Uint8Array, fds: readonly number[] = []): void {
    if (this.closed) throw new VfioError(Errno.ENOTCONN, 'connection is closed');
    this.stream.send(bytes, fds);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  // ---- teardown --------------------------------------------------------

  /** Closes the connection; every descriptor it still holds is closed too. */
  close(reason?: Error): void {
    if (this.closed) return;
    this.outbox.flush();
    this.closed = true;
    this.poll?.close();
    this.stream.close();
    closeFds(this.rx.dispose());
    for (const q of this.queue) closeFds(q.fds);
    this.queue = [];
    this.queuedBytes = 0;
    this.pending.failAll();
    try {
      this.handler.onClose?.(reason);
    } catch (err) {
      this.log(`onClose handler failed: ${(err as Error)?.stack ?? err}`);
    }
  }
}
