// READ, WRITE and COPY: the function moves host memory with its DMA, through
// memory the client shares (mapped) and through DMA_READ/DMA_WRITE messages,
// and checks or reports the CRC the host driver computes (crc32_le(~0, ...)).
import test from 'ava';
import { Reg, Command, Status, IrqType, FLAG_USE_DMA, MAX_TRANSFER } from '../../src/devices/pci-epf-test.ts';
import { DMA_PIECE } from '../../src/devices/epf/transfers.ts';
import { Command as Vfio } from '../../src/protocol/index.ts';
import * as R from '../../src/pci/regs.ts';
import { Host, SHARED, BY_MESSAGE, kernelCrc, cfg } from './host.ts';

const SIZES = [1, 1024, 1025, 1024000, 1 << 20, 1024001];
const ok = (bit: number) => bit | Status.IRQ_RAISED;

let h: Host;
test.before(async () => {
  h = await Host.start();
  await h.enableMsi(32);
});
test.after.always(() => h?.close());

for (const [where, base] of [['shared memory', SHARED], ['DMA messages', BY_MESSAGE]] as const) {
  const src = base;
  const dst = base + 0x20_0000n;

  test.serial(`READ over ${where}: the function reads the buffer and matches the host's CRC, at ${SIZES.join(', ')} bytes`, async (t) => {
    for (const size of SIZES) {
      const data = h.fill(src, size);
      const before = h.msi[0].total;
      t.is(await h.command(Command.READ, { src, size, checksum: kernelCrc(data) }), ok(Status.READ_SUCCESS), `${size} bytes`);
      await h.signalled(h.msi[0], before + 1, 'MSI 1');
    }
    h.fill(src, 4096);
    t.is(await h.command(Command.READ, { src, size: 4096, checksum: 0x12345678 }), ok(Status.READ_FAIL), 'a wrong CRC fails');
  });

  test.serial(`WRITE over ${where}: the buffer holds what CHECKSUM describes, at ${SIZES.join(', ')} bytes, with and without FLAG_USE_DMA`, async (t) => {
    for (const size of SIZES) {
      for (const flags of [0, FLAG_USE_DMA]) {
        h.c.memory.write(dst, new Uint8Array(size));
        t.is(await h.command(Command.WRITE, { dst, size, flags }), ok(Status.WRITE_SUCCESS), `${size} bytes`);
        t.is(kernelCrc(h.mem(dst, size)), await h.read(Reg.CHECKSUM), `${size} bytes: CRC of what landed`);
      }
    }
  });

  test.serial(`COPY over ${where}: the destination equals the source, at ${SIZES.join(', ')} bytes`, async (t) => {
    for (const size of SIZES) {
      const data = h.fill(src, size);
      h.c.memory.write(dst, new Uint8Array(size));
      t.is(await h.command(Command.COPY, { src, dst, size, flags: FLAG_USE_DMA }), ok(Status.COPY_SUCCESS), `${size} bytes`);
      t.is(kernelCrc(h.mem(dst, size)), kernelCrc(data));
    }
  });
}

test.serial(`no DMA message carries more than ${DMA_PIECE / 1024} KiB (QEMU 11.1 cuts larger DMA_READ replies)`, async (t) => {
  h.dmaMessages.length = 0;
  const size = 1 << 20;
  h.fill(BY_MESSAGE, size);
  await h.command(Command.COPY, { src: BY_MESSAGE, dst: BY_MESSAGE + 0x20_0000n, size });
  const reads = h.dmaMessages.filter((m) => m.command === Vfio.DMA_READ);
  const writes = h.dmaMessages.filter((m) => m.command === Vfio.DMA_WRITE);
  t.is(reads.length, size / DMA_PIECE);
  t.is(writes.length, size / DMA_PIECE);
  t.true(h.dmaMessages.every((m) => m.bytes <= DMA_PIECE));
});

test.serial('the completion interrupt comes after the data: when MSI 1 is signalled, the buffer already has the CRC the function reports', async (t) => {
  const dst = BY_MESSAGE + 0x20_0000n;
  const size = 1024001;
  let atSignal = -1;
  h.msi[0].watch(() => { atSignal = kernelCrc(h.mem(dst, size)); });
  for (let i = 0; i < 5; i++) {
    h.c.memory.write(dst, new Uint8Array(size));
    atSignal = -1;
    await h.command(Command.WRITE, { dst, size });
    const want = await h.read(Reg.CHECKSUM);
    await new Promise((r) => setTimeout(r, 20));
    t.is(atSignal, want, `round ${i}`);
  }
});

test.serial('an address the host did not map fails the transfer with SRC/DST_ADDR_INVALID, and the interrupt still comes', async (t) => {
  const nowhere = 0x7000_0000n;
  const before = h.msi[0].total;
  t.is(await h.command(Command.READ, { src: nowhere, size: 4096, checksum: 0 }), ok(Status.READ_FAIL | Status.SRC_ADDR_INVALID));
  t.is(await h.command(Command.WRITE, { dst: nowhere, size: 4096 }), ok(Status.WRITE_FAIL | Status.DST_ADDR_INVALID));
  t.is(await h.command(Command.COPY, { src: SHARED, dst: nowhere, size: 4096 }), ok(Status.COPY_FAIL | Status.DST_ADDR_INVALID));
  t.is(await h.command(Command.COPY, { src: nowhere, dst: SHARED, size: 4096 }), ok(Status.COPY_FAIL | Status.SRC_ADDR_INVALID));
  await h.signalled(h.msi[0], before + 4, 'four completions');
});

test.serial('a transfer past 2^64, above the size limit or with bus mastering off fails as a guest error', async (t) => {
  h.guestErrors.length = 0;
  t.is(await h.command(Command.READ, { src: 0xffff_ffff_ffff_f000n, size: 0x2000, checksum: 0 }), ok(Status.READ_FAIL | Status.SRC_ADDR_INVALID));
  t.regex(h.guestErrors.pop() ?? '', /past the end of the 64-bit address space/);
  t.is(await h.command(Command.WRITE, { dst: SHARED, size: MAX_TRANSFER + 1 }), ok(Status.WRITE_FAIL));
  t.regex(h.guestErrors.pop() ?? '', /more than the 64 MiB/);
  await h.c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY);
  t.is(await h.command(Command.COPY, { src: SHARED, dst: SHARED + 0x1000n, size: 16, irqType: IrqType.MSI }), ok(Status.COPY_FAIL | Status.SRC_ADDR_INVALID));
  t.regex(h.guestErrors.pop() ?? '', /bus mastering is off/);
  await h.c.write16(cfg, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
});

test.serial('a corrupt DMA fault damages exactly one transfer: READ fails its CRC check, then passes again', async (t) => {
  const size = 4096;
  const data = h.fill(SHARED, size);
  h.device.faults.add({ on: 'dma', direction: 'read', action: 'corrupt', count: 1 });
  t.is(await h.command(Command.READ, { src: SHARED, size, checksum: kernelCrc(data) }), ok(Status.READ_FAIL));
  t.is(await h.command(Command.READ, { src: SHARED, size, checksum: kernelCrc(data) }), ok(Status.READ_SUCCESS));
  h.device.faults.add({ on: 'dma', direction: 'write', action: 'corrupt', count: 1 });
  await h.command(Command.WRITE, { dst: SHARED, size });
  t.not(kernelCrc(h.mem(SHARED, size)), await h.read(Reg.CHECKSUM), 'what landed is not what the function reports');
  h.device.faults.clear();
});
