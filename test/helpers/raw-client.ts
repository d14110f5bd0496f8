// A vfio-user client connection for tests that write the byte stream
// themselves (split messages, cut messages, garbage). Unlike VfioUserClient it
// never sends anything on its own while the test is mid-message: the server's
// DMA_READ/DMA_WRITE requests are answered only when the gate is open, so an
// automatic reply cannot land inside a message the test is sending in pieces.
import { connectUnix } from '../../ffi/index.ts';
import {
  Command, Errno, VfioError, encodeVersion, decodeDmaData, encodeDmaWriteReply, type Header,
} from '../../src/protocol/index.ts';
import { Connection, type Tap } from '../../src/transport/connection.ts';
import type { Message } from '../../src/transport/connection.ts';
import { MSI_WINDOW_BASE, MSI_WINDOW_SIZE } from '../../src/client/memory.ts';

export interface RawClientOptions {
  /** Sees every message both ways (replies included). */
  tap?: Tap;
  /** Capabilities for VERSION (when negotiating). */
  capabilities?: Record<string, unknown>;
}

export class RawClient {
  private conn!: Connection;
  private gateOpen = true;
  private held: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  closeReason: Error | undefined;
  /** Interrupt messages (4-byte DMA_WRITEs to 0xFEExxxxx) the device sent. */
  msis = 0;
  /** Requests from the server (DMA_READ/DMA_WRITE). */
  serverRequests = 0;

  private constructor() {}

  static async connect(socket: string, opts: RawClientOptions & { negotiate?: boolean } = {}): Promise<RawClient> {
    const c = new RawClient();
    c.conn = new Connection(connectUnix(socket), {
      onCommand: (msg) => c.onServerCommand(msg),
      onClose: (reason) => {
        c.closed = true;
        c.closeReason = reason;
        for (const w of c.waiters.splice(0)) w();
      },
    }, { maxMessageSize: (1 << 20) + 4096, maxFds: 16, requestTimeoutMs: 5000, tap: opts.tap });
    if (opts.negotiate !== false) {
      try {
        await c.conn.request(Command.VERSION, encodeVersion({ major: 0, minor: 0, json: { capabilities: { write_multiple: true, ...opts.capabilities } } }));
      } catch (err) {
        c.close();
        throw err;
      }
    }
    return c;
  }

  get fd(): number {
    return this.conn.fd;
  }

  /** Bytes as they are, with descriptors on their first byte. Throws if the socket is gone. */
  send(bytes: Uint8Array, fds: readonly number[] = []): void {
    this.conn.sendBytes(bytes, fds);
  }

  /** Our own request through the connection (ids from 1 upwards), e.g. a plain REGION_READ. */
  request(command: number, payload: Uint8Array): Promise<{ header: Header; payload: Uint8Array }> {
    return this.conn.request(command, payload);
  }

  /** Hold answers to the server's requests (we are between the pieces of a message). */
  closeGate(): void {
    this.gateOpen = false;
  }

  /** Answer what is held and what comes (we are at a message boundary). */
  openGate(): void {
    this.gateOpen = true;
    for (const go of this.held.splice(0)) go();
  }

  waitClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private async onServerCommand(msg: Message): Promise<Uint8Array | undefined> {
    this.serverRequests++;
    msg.release();
    const { command } = msg.header;
    let msi: Uint8Array | undefined;
    if (command === Command.DMA_WRITE) {
      const d = decodeDmaData(msg.payload, 'DMA_WRITE');
      if (d.address >= MSI_WINDOW_BASE && d.address < MSI_WINDOW_BASE + MSI_WINDOW_SIZE && d.count === 4) {
        this.msis++;
        msi = encodeDmaWriteReply({ address: d.address, count: d.count });
      }
    }
    // Seen and counted now; answered only at a message boundary (and never
    // after our EOF: a send on a half-closed socket fails and closes the
    // connection before the server has closed its end).
    if (!this.gateOpen) await new Promise<void>((r) => this.held.push(r));
    if (msi) return msi;
    // This client shares all its memory by descriptor or not at all: there is
    // nothing to reach by message.
    throw new VfioError(Errno.EFAULT, `no memory at the address of ${command === Command.DMA_READ ? 'DMA_READ' : `command ${command}`}`);
  }

  close(): void {
    this.conn?.close();
    this.openGate();
  }
}
