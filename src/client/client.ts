// A vfio-user client in TypeScript on the same codec as the server: used by
// the tests, and by anyone who wants to drive a vfio-user device without QEMU.
// Unlike QEMU it emulates nothing: MSI-X table accesses go to the device.
import { connectUnix, EventFd } from '../../ffi/index.ts';
import {
  Command, Errno, VfioError,
  encodeVersion, decodeVersion, parseCapabilities, capabilitiesJson, type Capabilities,
  encodeDeviceInfo, decodeDeviceInfo, type DeviceInfo,
  encodeRegionInfo, decodeRegionInfo, type RegionInfo,
  encodeIrqInfo, decodeIrqInfo, type IrqInfo,
  encodeIrqSet, type IrqSet,
  encodeRegionAccess, decodeRegionData, encodeRegionData, decodeRegionAccess,
  encodeWriteMulti, decodeWriteMultiReply, type WriteMultiEntry,
  encodeDmaMap, encodeDmaUnmap, decodeDmaRead, decodeDmaData, encodeDmaData, encodeDmaWriteReply,
  DMA_MAP_READ, DMA_MAP_WRITE, DMA_MAP_SIZE, DMA_UNMAP_SIZE, DEVICE_INFO_SIZE, IRQ_INFO_SIZE,
  IRQ_SET_DATA_EVENTFD, IRQ_SET_ACTION_TRIGGER, IRQ_SET_SIZE, Region,
} from '../protocol/index.ts';
import { Connection, type Reply, type Tap } from '../transport/connection.ts';
import type { Message } from '../transport/connection.ts';
import { ClientMemory } from './memory.ts';

export interface ClientOptions {
  /** Capabilities to propose (defaults: 16 fds, 1 MiB transfers, write_multiple). */
  capabilities?: Partial<Capabilities>;
  timeoutMs?: number;
  tap?: Tap;
  /** Skip VERSION (to test what a server does without it). */
  negotiate?: boolean;
}

export class VfioUserClient {
  readonly memory = new ClientMemory();
  server: Capabilities | undefined;
  private conn!: Connection;
  private closedReason: Error | undefined;
  private closeWaiters: (() => void)[] = [];
  /** Eventfds this client created for SET_IRQS; closed with the client. */
  private readonly eventfds = new Set<EventFd>();
  closed = false;

  private constructor(private readonly opts: ClientOptions) {}

  static async connect(path: string, opts: ClientOptions = {}): Promise<VfioUserClient> {
    const c = new VfioUserClient(opts);
    const fd = connectUnix(path);
    c.conn = new Connection(fd, {
      onCommand: (msg) => c.onServerCommand(msg),
      onClose: (reason) => {
        c.closed = true;
        c.closedReason = reason;
        for (const w of c.closeWaiters.splice(0)) w();
      },
    }, { maxMessageSize: (1 << 20) + 4096, maxFds: 16, requestTimeoutMs: opts.timeoutMs ?? 5000, tap: opts.tap });
    if (opts.negotiate !== false) {
      try {
        await c.negotiate();
      } catch (err) {
        c.close();
        throw err;
      }
    }
    return c;
  }

  /** Resolves when the server closes the connection. */
  waitClosed(): Promise<Error | undefined> {
    if (this.closed) return Promise.resolve(this.closedReason);
    return new Promise((resolve) => this.closeWaiters.push(() => resolve(this.closedReason)));
  }

  async negotiate(): Promise<Capabilities> {
    const caps: Capabilities = {
      maxMsgFds: 16, maxDataXferSize: 1 << 20, maxDmaMaps: 65535, pgsizes: 4096, writeMultiple: true, twinSocket: false,
      ...this.opts.capabilities,
    };
    const reply = await this.request(Command.VERSION, encodeVersion({ major: 0, minor: 0, json: capabilitiesJson(caps) }));
    const v = decodeVersion(reply.payload);
    if (v.major !== 0) throw new VfioError(Errno.EPROTO, `server answered major ${v.major}`);
    this.server = parseCapabilities(v.json);
    return this.server;
  }

  /** Any command, raw: for tests of malformed input. */
  request(command: number, payload: Uint8Array, opts: { fds?: readonly number[]; noReply?: boolean; timeoutMs?: number } = {}): Promise<Reply> {
    return this.conn.request(command, payload, opts);
  }

  /** Writes raw bytes to the socket (malformed framing). */
  sendRaw(bytes: Uint8Array, fds: readonly number[] = []): void {
    this.conn.sendBytes(bytes, fds);
  }

  get fd(): number {
    return this.conn.fd;
  }

  // ---- device, regions, irqs ------------------------------------------------

  async deviceInfo(): Promise<DeviceInfo> {
    const r = await this.request(Command.DEVICE_GET_INFO, encodeDeviceInfo({ argsz: DEVICE_INFO_SIZE, flags: 0, numRegions: 0, numIrqs: 0 }));
    return decodeDeviceInfo(r.payload, 'DEVICE_GET_INFO reply');
  }

  async regionInfo(index: number, argsz = 256): Promise<RegionInfo> {
    const r = await this.request(Command.DEVICE_GET_REGION_INFO, encodeRegionInfo({ argsz, flags: 0, index, capOffset: 0, size: 0n, offset: 0n }));
    return decodeRegionInfo(r.payload, 'DEVICE_GET_REGION_INFO reply');
  }

  async irqInfo(index: number): Promise<IrqInfo> {
    const r = await this.request(Command.DEVICE_GET_IRQ_INFO, encodeIrqInfo({ argsz: IRQ_INFO_SIZE, flags: 0, index, count: 0 }));
    return decodeIrqInfo(r.payload, 'DEVICE_GET_IRQ_INFO reply');
  }

  async regionRead(region: number, offset: number | bigint, count: number): Promise<Uint8Array> {
    const r = await this.request(Command.REGION_READ, encodeRegionAccess({ offset: BigInt(offset), region, count }));
    return decodeRegionData(r.payload, 'REGION_READ reply').data;
  }

  /** A write; `posted` sends it with NO_REPLY like QEMU does for memory BARs. Resolves to the count written. */
  async regionWrite(region: number, offset: number | bigint, data: Uint8Array, opts: { posted?: boolean } = {}): Promise<number> {
    const payload = encodeRegionData({ offset: BigInt(offset), region, count: data.length, data });
    const r = await this.request(Command.REGION_WRITE, payload, { noReply: opts.posted });
    return opts.posted ? data.length : decodeRegionAccess(r.payload, 'REGION_WRITE reply').count;
  }

  async writeMulti(entries: WriteMultiEntry[]): Promise<number> {
    const r = await this.request(Command.REGION_WRITE_MULTI, encodeWriteMulti(entries));
    return decodeWriteMultiReply(r.payload);
  }

  async read32(region: number, offset: number): Promise<number> {
    const d = await this.regionRead(region, offset, 4);
    return new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
  }

  async write32(region: number, offset: number, value: number, opts: { posted?: boolean } = {}): Promise<void> {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    await this.regionWrite(region, offset, b, opts);
  }

  async read16(region: number, offset: number): Promise<number> {
    const d = await this.regionRead(region, offset, 2);
    return d[0] | (d[1] << 8);
  }

  async write16(region: number, offset: number, value: number): Promise<void> {
    await this.regionWrite(region, offset, new Uint8Array([value & 0xff, (value >> 8) & 0xff]));
  }

  async read8(region: number, offset: number): Promise<number> {
    return (await this.regionRead(region, offset, 1))[0];
  }

  configRead32(offset: number): Promise<number> {
    return this.read32(Region.CONFIG, offset);
  }

  configWrite32(offset: number, value: number): Promise<void> {
    return this.write32(Region.CONFIG, offset, value);
  }

  async setIrqs(set: Omit<IrqSet, 'argsz'> & { argsz?: number }, fds: readonly number[] = []): Promise<void> {
    const argsz = set.argsz ?? IRQ_SET_SIZE + (set.data?.length ?? 0);
    await this.request(Command.DEVICE_SET_IRQS, encodeIrqSet({ ...set, argsz }), { fds });
  }

  /** Binds fresh eventfds to [start, start+count) of an irq index and watches them. */
  async bindEventfds(index: number, start: number, count: number): Promise<EventFd[]> {
    const evs = Array.from({ length: count }, () => new EventFd().watch(() => {}).unref());
    try {
      await this.setIrqs({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index, start, count }, evs.map((e) => e.fd));
    } catch (err) {
      for (const e of evs) e.close();
      throw err;
    }
    for (const e of evs) this.eventfds.add(e);
    return evs;
  }

  async reset(): Promise<void> {
    await this.request(Command.DEVICE_RESET, new Uint8Array(0));
  }

  // ---- memory ---------------------------------------------------------------

  /** Exports `size` bytes of new shared memory at `address` (DMA_MAP with a memfd). */
  async dmaMap(address: bigint, size: number, opts: { shareFd?: boolean; flags?: number } = {}): Promise<void> {
    const w = this.memory.add(address, size);
    const payload = encodeDmaMap({ argsz: DMA_MAP_SIZE, flags: opts.flags ?? (DMA_MAP_READ | DMA_MAP_WRITE), offset: 0n, address, size: BigInt(size) });
    try {
      await this.request(Command.DMA_MAP, payload, { fds: opts.shareFd === false ? [] : [w.fd] });
    } catch (err) {
      this.memory.remove(address);
      throw err;
    }
  }

  async dmaUnmap(address: bigint, size: number): Promise<void> {
    await this.request(Command.DMA_UNMAP, encodeDmaUnmap({ argsz: DMA_UNMAP_SIZE, flags: 0, address, size: BigInt(size) }));
    this.memory.remove(address);
  }

  /** Server-to-client commands: DMA_READ and DMA_WRITE against our memory. */
  private onServerCommand(msg: Message): Uint8Array | undefined {
    msg.release();
    switch (msg.header.command) {
      case Command.DMA_READ: {
        const a = decodeDmaRead(msg.payload);
        if (a.count > (1 << 20)) throw new VfioError(Errno.E2BIG, `DMA_READ of ${a.count} bytes`);
        const data = this.memory.read(a.address, a.count);
        return encodeDmaData({ address: a.address, count: a.count, data });
      }
      case Command.DMA_WRITE: {
        const d = decodeDmaData(msg.payload, 'DMA_WRITE');
        this.memory.write(d.address, d.data);
        return encodeDmaWriteReply({ address: d.address, count: d.count });
      }
      default:
        throw new VfioError(Errno.ENOSYS, `a client does not serve command ${msg.header.command}`);
    }
  }

  close(): void {
    this.conn?.close();
    this.memory.close();
    for (const e of this.eventfds) e.close();
    this.eventfds.clear();
  }
}
