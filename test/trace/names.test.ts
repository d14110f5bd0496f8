// The trace for people: register names from the device's register maps
// instead of offsets, and a summary that counts each interrupt once.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Region, IrqIndex } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, QUEUE_BASE, QUEUE_STRIDE, Q } from '../../src/devices/ims-queue.ts';
import * as R from '../../src/pci/regs.ts';
import { TraceRecorder } from '../../src/trace/index.ts';
import { startServer } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { irqlabBin } from '../helpers/spawn-serve.ts';
import { tempDir } from './helpers.ts';

const tmp = tempDir();
test.after.always(() => tmp.remove());

function trace(...args: string[]): string {
  const r = spawnSync(process.execPath, [irqlabBin, 'trace', ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`irqlab trace ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Records what `session` does with a client against the reference device. */
async function record(name: string, session: (h: ReturnType<typeof startServer<ImsQueueDevice>>, c: Awaited<ReturnType<ReturnType<typeof startServer>['connect']>>) => Promise<void>): Promise<string> {
  const file = join(tmp.dir, `${name}.trace`);
  const rec = await TraceRecorder.open(file, { deviceName: 'ims-queue' });
  const h = startServer(new ImsQueueDevice(), { tap: rec.tap });
  rec.attach({ server: h.server, device: h.device });
  try {
    const c = await h.connect();
    await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
    await session(h, c);
    c.close();
    await eventually('the session to end', () => h.server.session === null);
    await rec.close();
  } finally {
    h.close();
  }
  return file;
}

test('the timeline names registers from the register map: DOORBELL, not BAR0+0x24', async (t) => {
  const file = await record('names', async (_h, c) => {
    await c.write32(0, Reg.DOORBELL, 7);
    await c.read32(0, Reg.DB_COUNT);
    await c.write32(0, QUEUE_BASE + 2 * QUEUE_STRIDE + Q.DOORBELL, 1);
    await c.read16(0, Reg.ID + 2);
    await c.write32(2, 1 * 16 + 12, 0); // MSI-X table: vector 1's control word
    await c.read32(0, 0xf0); // no register there
  });
  const out = trace(file, '--kind', 'msg', '--command', 'REGION_READ,REGION_WRITE');
  t.regex(out, /<- REGION_WRITE #\d+ DOORBELL 4 B = 0x00000007\n/);
  t.regex(out, /<- REGION_READ #\d+ DB_COUNT 4 B\n/);
  t.regex(out, /<- REGION_WRITE #\d+ Q_DOORBELL\[2\] 4 B = 0x00000001\n/);
  t.regex(out, /<- REGION_READ #\d+ ID\+0x2 2 B\n/, 'inside a register: its name and the offset within it');
  t.regex(out, /<- REGION_WRITE #\d+ MSI-X table\+0x1c 4 B = 0x00000000\n/, 'a window without registers: its name');
  t.regex(out, /<- REGION_READ #\d+ BAR0\+0xf0 4 B\n/, 'no register there: the offset');
  t.notRegex(out, /BAR0\+0x24\b/);
});

test('trace --stats counts a delayed interrupt once, by its outcome, and says it was queued first', async (t) => {
  const file = await record('delayed', async (h, c) => {
    const evs = await c.bindEventfds(IrqIndex.MSIX, 0, 4);
    await c.write16(Region.CONFIG, h.device.caps.msix! + R.PCI_MSIX_FLAGS, R.PCI_MSIX_FLAGS_ENABLE);
    for (let v = 0; v < 4; v++) await c.write32(2, v * 16 + 12, 0);
    h.device.faults.add({ on: 'irq', kind: 'msix', index: 1, action: { delay: 30 }, count: 1 });
    h.device.fireMsix(1); // delayed
    h.device.fireMsix(2); // at once
    await eventually('both vectors', () => evs[1].total === 1 && evs[2].total === 1, { timeoutMs: 10_000 });
  });
  const timeline = trace(file, '--kind', 'irq');
  t.regex(timeline, /msix vector 1 queued \(fault: delay 30 ms\)\n[^\n]*msix vector 2 delivered\n[^\n]*msix vector 1 delivered\n/, 'the timeline shows both steps');
  const stats = trace(file, '--stats');
  t.regex(stats, /\ninterrupts +delivered +total +queued first\n/);
  t.regex(stats, /\nmsix +2 +2 +1\n/, 'two interrupts, both delivered, one of them queued first');
  t.regex(stats, /queued first: held back before their outcome/);
});
