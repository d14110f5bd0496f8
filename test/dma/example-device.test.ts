// The example DMA engine (examples/dma-copy-device.ts) against the TypeScript
// client, without a guest: its commands, what it computes, and how it takes
// a guest's mistakes (a clear guest error, STATUS.ERROR, the engine carries on).
import test from 'ava';
import { IrqIndex, Region } from '../../src/protocol/index.ts';
import * as R from '../../src/pci/regs.ts';
import { crc32 } from '../../src/dma/crc32.ts';
import { DmaCopyDevice, Cmd, pattern, patternWord, STATUS_DONE, STATUS_ERROR, MAX_LEN, LOCAL_SIZE } from '../../examples/dma-copy-device.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';

const A = 0x10_0000n;
const B = 0x20_0000n;
const REG = { STATUS: 0x04, BUSY: 0x08, LEN: 0x0c, SRC: 0x10, DST: 0x18, SEED: 0x20, CMD: 0x24, CRC: 0x28, MISMATCHES: 0x2c, FIRST_BAD: 0x30, DONE_COUNT: 0x34 };

async function setUp(t: { teardown(fn: () => void): void }) {
  const dev = new DmaCopyDevice();
  const h = startServer(dev);
  t.teardown(() => h.close());
  const errors: string[] = [];
  dev.on('guest-error', (m) => errors.push(m));
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  await c.dmaMap(A, 1 << 20, { shareFd: false });
  await c.dmaMap(B, 1 << 20, { shareFd: false });
  const [intx] = await c.bindEventfds(IrqIndex.INTX, 0, 1);
  const w = (reg: number, v: number) => c.write32(Region.BAR0, reg, v);
  const r = (reg: number) => c.read32(Region.BAR0, reg);
  const command = async (cmd: number, o: { src?: bigint; dst?: bigint; len: number; seed?: number }) => {
    const done = await r(REG.DONE_COUNT);
    await w(REG.SRC, Number(o.src ?? 0n)); await w(REG.SRC + 4, 0);
    await w(REG.DST, Number(o.dst ?? 0n)); await w(REG.DST + 4, 0);
    await w(REG.LEN, o.len);
    await w(REG.SEED, o.seed ?? 0);
    await w(REG.CMD, cmd);
    await dev.idle();
    await eventually('the command to end', async () => (await r(REG.DONE_COUNT)) === done + 1 || ((await r(REG.STATUS)) & STATUS_ERROR) !== 0);
  };
  return { dev, c, errors, intx, w, r, command };
}

test('fill, check, copy, load and store move and check the bytes; CRC says what moved; INTx pulses once per completion without MSI-X', async (t) => {
  const { c, r, w, command, intx } = await setUp(t);
  await command(Cmd.FILL, { dst: A, len: 100_000, seed: 7 });
  t.deepEqual(c.memory.read(A, 100_000), pattern(7, 100_000));
  t.is(await r(REG.CRC), crc32(pattern(7, 100_000)));
  await command(Cmd.CHECK, { src: A, len: 100_000, seed: 7 });
  t.is(await r(REG.MISMATCHES), 0);
  t.is(await r(REG.FIRST_BAD), 0xffffffff);
  c.memory.write(A + 4000n, new Uint8Array([0xff]));
  await command(Cmd.CHECK, { src: A, len: 100_000, seed: 7 });
  t.is(await r(REG.MISMATCHES), 1);
  t.is(await r(REG.FIRST_BAD), 4000);
  await command(Cmd.COPY, { src: A, dst: B, len: 100_000 });
  t.deepEqual(c.memory.read(B, 100_000), c.memory.read(A, 100_000));
  await command(Cmd.LOAD, { src: A, dst: 0x100n, len: 64 });
  t.is(await c.read32(Region.BAR2, 0x104), patternWord(7, 1), 'the local memory holds what was loaded, as the guest reads it');
  await command(Cmd.STORE, { src: 0x100n, dst: B + 0x8000n, len: 64 });
  t.deepEqual(c.memory.read(B + 0x8000n, 64), c.memory.read(A, 64));
  t.is(await r(REG.STATUS) & STATUS_DONE, STATUS_DONE);
  await w(REG.STATUS, STATUS_DONE);
  t.is(await r(REG.STATUS), 0, 'W1C');
  t.is((intx.poll(), intx.total), 1, 'the first pulse left; the rest are latched until the client unmasks');
});

test('guest mistakes: a clear guest error, STATUS.ERROR, the command ignored, the engine carries on', async (t) => {
  const { dev, c, errors, r, w, command } = await setUp(t);
  const expectError = async (what: RegExp, fn: () => Promise<void>) => {
    await w(REG.STATUS, STATUS_DONE | STATUS_ERROR);
    const n = errors.length;
    await fn();
    t.regex(errors.slice(n).join('\n'), what);
    t.is((await r(REG.STATUS)) & STATUS_ERROR, STATUS_ERROR);
  };
  await expectError(/CMD 9 is not 1\.\.5; command ignored/, () => command(9, { len: 4 }));
  await expectError(new RegExp(`LEN ${MAX_LEN + 1} is more than ${MAX_LEN}`), () => command(Cmd.FILL, { dst: A, len: MAX_LEN + 1 }));
  await expectError(new RegExp(`runs past the ${LOCAL_SIZE}-byte local memory`), () => command(Cmd.LOAD, { src: A, dst: BigInt(LOCAL_SIZE - 8), len: 16 }));
  // A read of memory the client never exported fails (a posted write there would simply be lost).
  await expectError(/command 3 failed: .*EFAULT/, () => command(Cmd.CHECK, { src: 0x4000_0000n, len: 64 }));
  // A command while one runs: held in flight by a delayed DMA (long enough
  // for the next four accesses on a loaded machine; idle() then waits it out).
  dev.faults.add({ on: 'dma', action: { delay: 2000 }, count: 1 });
  await w(REG.LEN, 64); await w(REG.DST, Number(A)); await w(REG.CMD, Cmd.FILL);
  t.is(await r(REG.BUSY), 1);
  const n = errors.length;
  await w(REG.CMD, Cmd.FILL);
  t.regex(errors.slice(n).join('\n'), /a command is still running; command ignored/);
  await dev.idle();
  t.is(await r(REG.BUSY), 0);
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY);
  await expectError(/bus mastering is off/, () => command(Cmd.FILL, { dst: A, len: 64 }));
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  await w(REG.STATUS, STATUS_ERROR);
  await command(Cmd.FILL, { dst: A, len: 64, seed: 3 });
  t.deepEqual(c.memory.read(A, 64), pattern(3, 64), 'and it still works');
});
