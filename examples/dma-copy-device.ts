// A small DMA engine with long-running commands: it copies N bytes from
// host address A to host address B, fills a buffer with a pattern, checks
// one, or moves data between host memory and its own local memory in BAR2,
// then interrupts. Its guest driver is examples/drivers/dma_copy/. Serve it
// with
//
//   irqlab serve examples/dma-copy-device.ts --socket /tmp/dma-copy.sock
//
// BAR0 (32-bit, 4 KiB; 32-bit accesses): registers, MSI-X table at 0x800, PBA at 0xc00
//   0x00 ID         RO   0x444d4143 ("DMAC")
//   0x04 STATUS     W1C  bit 0 DONE, bit 1 ERROR (set when a command ends)
//   0x08 BUSY       RO   1 while a command runs
//   0x0c LEN        RW   bytes to move, 0..MAX_LEN
//   0x10 SRC        RW   64-bit host address (or BAR2 offset for STORE)
//   0x18 DST        RW   64-bit host address (or BAR2 offset for LOAD)
//   0x20 SEED       RW   the pattern FILL writes and CHECK expects
//   0x24 CMD        WO   1 COPY, 2 FILL, 3 CHECK, 4 LOAD, 5 STORE (see Cmd)
//   0x28 CRC        RO   CRC-32 (zlib's) of the bytes the last command moved
//   0x2c MISMATCHES RO   CHECK: 32-bit words that differ from the pattern
//   0x30 FIRST_BAD  RO   CHECK: byte offset of the first one (0xffffffff: none)
//   0x34 DONE_COUNT RO   commands completed since reset
//   0x38 VECTOR     RW   the MSI-X vector a completion raises
// BAR2 (64-bit, 64 KiB): the engine's local memory (plain RAM).
//
// The pattern: 32-bit little-endian word i of a buffer is (i * 0x9e3779b1) ^ SEED,
// so a word in the wrong place, or left from another round, shows.
//
// A completion sets STATUS.DONE, then raises MSI-X VECTOR when MSI-X is on,
// an INTx pulse otherwise. Data the engine wrote by posted DMA has reached
// host memory before that interrupt does (irqlab orders it, as PCIe does).
// A reset (FLR, DEVICE_RESET, the client leaving) cancels the command in
// flight: it stops between DMA pieces and never completes.
import { PciFunction, RegisterMap, crc32 } from '../src/index.ts';

export const DMA_COPY_VENDOR_ID = 0xf1ab;
export const DMA_COPY_DEVICE_ID = 0x0003;
export const ID_MAGIC = 0x444d4143;
export const MAX_LEN = 64 << 20;
export const LOCAL_SIZE = 0x10000;

export const Cmd = { COPY: 1, FILL: 2, CHECK: 3, LOAD: 4, STORE: 5 } as const;
export const STATUS_DONE = 1 << 0;
export const STATUS_ERROR = 1 << 1;

/** Word i of the pattern for `seed`. */
export const patternWord = (seed: number, i: number) => (Math.imul(i, 0x9e3779b1) ^ seed) >>> 0;

/** `length` bytes of the pattern (the last word cut short if it must be). */
export function pattern(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const words = new DataView(out.buffer);
  for (let i = 0; 4 * i + 4 <= length; i++) words.setUint32(4 * i, patternWord(seed, i), true);
  const tail = length & 3;
  if (tail) {
    const last = new Uint8Array(4);
    new DataView(last.buffer).setUint32(0, patternWord(seed, length >> 2), true);
    out.set(last.subarray(0, tail), length - tail);
  }
  return out;
}

export class DmaCopyDevice extends PciFunction {
  readonly regs: RegisterMap;
  readonly local: Uint8Array;
  private running: Promise<void> = Promise.resolve();
  private busy = false;

  constructor() {
    super({
      ids: { vendor: DMA_COPY_VENDOR_ID, device: DMA_COPY_DEVICE_ID, classCode: 0xff0000 },
      bars: { 0: { type: 'mem32', size: 0x1000 }, 2: { type: 'mem64', size: LOCAL_SIZE } },
      capabilities: { pm: true, pcie: { flr: true }, msix: { vectors: 4, bar: 0, tableOffset: 0x800, pbaOffset: 0xc00 }, aer: true },
    });
    this.regs = new RegisterMap({
      size: 0x800,
      access: { min: 4, max: 4 },
      registers: [
        { name: 'ID', offset: 0x00, access: 'RO', reset: ID_MAGIC },
        { name: 'STATUS', offset: 0x04, access: 'W1C', mask: STATUS_DONE | STATUS_ERROR },
        { name: 'BUSY', offset: 0x08, access: 'RO', read: () => (this.busy ? 1 : 0) },
        { name: 'LEN', offset: 0x0c },
        { name: 'SRC_LO', offset: 0x10 }, { name: 'SRC_HI', offset: 0x14 },
        { name: 'DST_LO', offset: 0x18 }, { name: 'DST_HI', offset: 0x1c },
        { name: 'SEED', offset: 0x20 },
        { name: 'CMD', offset: 0x24, access: 'WO', write: (cmd) => this.start(cmd) },
        { name: 'CRC', offset: 0x28, access: 'RO' },
        { name: 'MISMATCHES', offset: 0x2c, access: 'RO' },
        { name: 'FIRST_BAD', offset: 0x30, access: 'RO', reset: 0xffffffff },
        { name: 'DONE_COUNT', offset: 0x34, access: 'RO' },
        { name: 'VECTOR', offset: 0x38, mask: 0x3 },
      ],
    });
    this.addRegisters(0, 0, this.regs);
    this.local = this.addMemory(2);
    this.onReset(() => { this.busy = false; });
  }

  private address(name: 'SRC' | 'DST'): bigint {
    return (BigInt(this.regs.value(`${name}_HI`)) << 32n) | BigInt(this.regs.value(`${name}_LO`));
  }

  /** Resolves when the command in flight (if any) has ended (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  /** The guest wrote CMD: one command at a time, with what the registers say now. */
  private start(cmd: number): void {
    const len = this.regs.value('LEN');
    const bad = this.busy ? 'a command is still running'
      : !Object.values(Cmd).includes(cmd as never) ? `CMD ${cmd} is not 1..5`
        : len > MAX_LEN ? `LEN ${len} is more than ${MAX_LEN}`
          : (cmd === Cmd.LOAD || cmd === Cmd.STORE) && BigInt(len) + this.address(cmd === Cmd.LOAD ? 'DST' : 'SRC') > BigInt(LOCAL_SIZE) ? `LEN ${len} at that offset runs past the ${LOCAL_SIZE}-byte local memory`
            : !this.busMaster ? 'bus mastering is off' : undefined;
    if (bad) {
      this.guestError('device-rule', `dma-copy: ${bad}; command ignored`);
      this.regs.set('STATUS', this.regs.value('STATUS') | STATUS_ERROR);
      return;
    }
    this.busy = true;
    // Taken now: a reset from here on aborts this command, not the next one.
    const signal = this.resetSignal;
    this.running = this.run(cmd, len, signal).then(
      () => this.complete(STATUS_DONE, signal),
      (err: Error) => {
        if (signal.aborted) return; // a reset: the command is gone, nothing completes
        this.guestError('device-rule', `dma-copy: command ${cmd} failed: ${err.message}`);
        this.complete(STATUS_ERROR, signal);
      },
    );
  }

  private async run(cmd: number, len: number, signal: AbortSignal): Promise<void> {
    const src = this.address('SRC');
    const dst = this.address('DST');
    const seed = this.regs.value('SEED');
    let moved: Uint8Array;
    switch (cmd) {
      case Cmd.COPY:
        moved = await this.dmaRead(src, len, { signal });
        await this.dmaWrite(dst, moved, { signal }); // posted: the interrupt after it is ordered behind it
        break;
      case Cmd.FILL:
        moved = pattern(seed, len);
        await this.dmaWrite(dst, moved, { signal });
        break;
      case Cmd.CHECK: {
        moved = await this.dmaRead(src, len, { signal });
        this.compare(moved, seed);
        break;
      }
      case Cmd.LOAD:
        moved = await this.dmaRead(src, len, { signal });
        this.local.set(moved, Number(dst));
        break;
      default: // STORE
        moved = this.local.slice(Number(src), Number(src) + len);
        await this.dmaWrite(dst, moved, { signal });
    }
    this.regs.set('CRC', crc32(moved));
  }

  /** CHECK: how many words differ from the pattern, and where the first one is. */
  private compare(data: Uint8Array, seed: number): void {
    const expected = pattern(seed, data.length);
    let mismatches = 0;
    let first = 0xffffffff;
    for (let at = 0; at < data.length; at += 4) {
      for (let b = at; b < Math.min(at + 4, data.length); b++) {
        if (data[b] === expected[b]) continue;
        if (mismatches++ === 0) first = at;
        break;
      }
    }
    this.regs.set('MISMATCHES', mismatches);
    this.regs.set('FIRST_BAD', first);
  }

  private complete(status: number, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.busy = false;
    this.regs.set('DONE_COUNT', this.regs.value('DONE_COUNT') + 1);
    this.regs.set('STATUS', this.regs.value('STATUS') | status);
    if (this.msix?.enabled) this.msix.fire(this.regs.value('VECTOR'));
    else this.intx.pulse();
  }
}

export default function createDmaCopyDevice(): DmaCopyDevice {
  return new DmaCopyDevice();
}
