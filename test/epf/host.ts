// A small host for pci-epf-test over a real socket, doing what
// pci_endpoint_test.c does: program the BARs, enable memory and bus
// mastering, set up MSI (32 vectors), MSI-X or INTx with eventfds, export
// memory for DMA, write the parameters and COMMAND, wait for the interrupt.
import { VfioUserClient } from '../../src/client/index.ts';
import { randomFillSync } from 'node:crypto';
import { Region, IrqIndex, Command as Vfio, IRQ_SET_DATA_NONE, IRQ_SET_ACTION_UNMASK } from '../../src/protocol/index.ts';
import type { EventFd } from '../../ffi/index.ts';
import * as R from '../../src/pci/regs.ts';
import { PciEpfTestDevice, Reg, IrqType, MSIX_TABLE_OFFSET, type PciEpfTestOptions } from '../../src/devices/pci-epf-test.ts';
import { crc32Le, CRC_SEED } from '../../src/devices/epf/crc32.ts';
import { startServer, type Harness } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { walkCaps } from '../pci/conformance.ts';

export const cfg = Region.CONFIG;
/** Host memory exported with a descriptor (the device maps it) and without (DMA_READ/DMA_WRITE messages). */
export const SHARED = 0x1000_0000n;
export const BY_MESSAGE = 0x2000_0000n;
export const MEM_SIZE = 4 << 20;

export const kernelCrc = (data: Uint8Array) => crc32Le(CRC_SEED, data);

export interface DmaMessage { command: number; bytes: number }

export class Host {
  readonly guestErrors: string[] = [];
  msi: EventFd[] = [];
  msix: EventFd[] = [];
  intx: EventFd[] = [];

  private constructor(
    readonly h: Harness<PciEpfTestDevice>,
    readonly c: VfioUserClient,
    /** DMA_READ / DMA_WRITE messages the device sent, with their data sizes. */
    readonly dmaMessages: DmaMessage[],
  ) {}

  static async start(opts: PciEpfTestOptions = {}): Promise<Host> {
    const messages: DmaMessage[] = [];
    const h = startServer(new PciEpfTestDevice(opts), {
      tap: (dir, header, payload) => {
        // DMA_READ (its data comes back in the reply) and DMA_WRITE: count is the u64 after the address.
        if (dir === 'out' && (header.command === Vfio.DMA_READ || header.command === Vfio.DMA_WRITE) && payload.length >= 16) {
          messages.push({ command: header.command, bytes: Number(new DataView(payload.buffer, payload.byteOffset + 8, 8).getBigUint64(0, true)) });
        }
      },
    });
    const c = await h.connect();
    const host = new Host(h, c, messages);
    h.device.on('guest-error', (m) => host.guestErrors.push(m));
    // Like the PCI core: BAR addresses, then memory decoding and bus mastering.
    for (let b = 0; b < 6; b++) await c.configWrite32(R.PCI_BASE_ADDRESS_0 + 4 * b, 0xe000_0000 + b * 0x10_0000);
    await c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
    await c.dmaMap(SHARED, MEM_SIZE);
    await c.dmaMap(BY_MESSAGE, MEM_SIZE, { shareFd: false });
    return host;
  }

  get device(): PciEpfTestDevice {
    return this.h.device;
  }

  close(): void {
    this.h.close();
  }

  read(reg: number): Promise<number> {
    return this.c.read32(0, reg);
  }

  write(reg: number, v: number): Promise<void> {
    return this.c.write32(0, reg, v >>> 0);
  }

  /** MSI with `vectors` enabled (Multiple Message Enable), an eventfd each. */
  async enableMsi(vectors = 32): Promise<void> {
    const at = (await walkCaps(this.c)).get(R.PCI_CAP_ID_MSI)!;
    this.msi = await this.bind(IrqIndex.MSI, 32);
    await this.c.write16(cfg, at + R.PCI_MSI_FLAGS, R.PCI_MSI_FLAGS_ENABLE | (Math.log2(vectors) << 4));
  }

  /** MSI-X enabled with vectors [0, n) unmasked in the table and bound to eventfds. */
  async enableMsix(n: number): Promise<void> {
    const at = (await walkCaps(this.c)).get(R.PCI_CAP_ID_MSIX)!;
    this.msix = await this.bind(IrqIndex.MSIX, n);
    await this.c.write16(cfg, at + R.PCI_MSIX_FLAGS, R.PCI_MSIX_FLAGS_ENABLE);
    for (let v = 0; v < n; v++) await this.c.write32(0, MSIX_TABLE_OFFSET + 16 * v + 12, 0);
  }

  /** Eventfds for sub-indexes [0, n), 16 to a message (the most fds one vfio-user message carries). */
  private async bind(index: number, n: number): Promise<EventFd[]> {
    const out: EventFd[] = [];
    for (let start = 0; start < n; start += 16) out.push(...(await this.c.bindEventfds(index, start, Math.min(16, n - start))));
    return out;
  }

  async enableIntx(): Promise<void> {
    this.intx = await this.c.bindEventfds(IrqIndex.INTX, 0, 1);
  }

  /** What vfio's client does after the guest's EOI: unmask the automasked INTx. */
  unmaskIntx(): Promise<void> {
    return this.c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK, index: IrqIndex.INTX, start: 0, count: 1 });
  }

  /** Writes a command's parameters and COMMAND, then waits until the device has finished it. */
  async command(command: number, p: { irqType?: number; irqNumber?: number; src?: bigint; dst?: bigint; size?: number; checksum?: number; flags?: number } = {}): Promise<number> {
    if (p.src !== undefined) {
      await this.write(Reg.SRC_ADDR_LO, Number(p.src & 0xffffffffn));
      await this.write(Reg.SRC_ADDR_HI, Number(p.src >> 32n));
    }
    if (p.dst !== undefined) {
      await this.write(Reg.DST_ADDR_LO, Number(p.dst & 0xffffffffn));
      await this.write(Reg.DST_ADDR_HI, Number(p.dst >> 32n));
    }
    if (p.size !== undefined) await this.write(Reg.SIZE, p.size);
    if (p.checksum !== undefined) await this.write(Reg.CHECKSUM, p.checksum);
    await this.write(Reg.FLAGS, p.flags ?? 0);
    await this.write(Reg.IRQ_TYPE, p.irqType ?? IrqType.MSI);
    await this.write(Reg.IRQ_NUMBER, p.irqNumber ?? 1);
    await this.write(Reg.COMMAND, command);
    await this.device.idle();
    return this.read(Reg.STATUS);
  }

  /** Waits for eventfd `ev` to have been signalled `n` times in all. */
  async signalled(ev: EventFd, n: number, what: string): Promise<void> {
    await eventually(what, () => ev.total >= n, 3000);
  }

  /** Host memory: fills [address, +size) with random bytes and returns them. */
  fill(address: bigint, size: number): Uint8Array {
    const data = randomFillSync(new Uint8Array(size));
    this.c.memory.write(address, data);
    return data;
  }

  mem(address: bigint, size: number): Uint8Array {
    return this.c.memory.read(address, size);
  }
}
