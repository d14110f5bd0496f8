// The IMS slot as the device implements it, beyond mask and pending: the
// PASID fields of the IDXD layout (kept, traced, not carried by the message),
// the W1C pending bit and its system-memory twin (IMS_DISCARD), and the
// option to latch interrupts raised while bus mastering is off.
import test from 'ava';
import { join } from 'node:path';
import { Region } from '../../src/protocol/index.ts';
import { ImsQueueDevice, Reg, IMS_TABLE_OFFSET, CTRL_IMS_SYSMEM } from '../../src/devices/ims-queue.ts';
import { IMS_CTRL_MASK, IMS_CTRL_PASID_ENABLE, IMS_CTRL_PASID_SHIFT } from '../../src/irq/ims.ts';
import { TraceRecorder, describe } from '../../src/trace/index.ts';
import type { IrqRecord } from '../../src/trace/format.ts';
import * as R from '../../src/pci/regs.ts';
import { startDriven } from '../helpers/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { records } from '../trace/helpers.ts';

const at = (s: number, field = 0) => IMS_TABLE_OFFSET + s * 16 + field;

const rig = (t: { teardown(fn: () => void): void }, device?: ImsQueueDevice) => startDriven(t, device, { shareFd: true });

test("the PASID enable bit and PASID field are kept, read back, and shown in the trace; the message goes without them", async (t) => {
  const { h, c } = await rig(t);
  const file = join(h.dir, 'pasid.trace');
  const rec = await TraceRecorder.open(file);
  rec.attach({ device: h.device });
  await c.write32(0, at(1, 0), 0xfee00000);
  await c.write32(0, at(1, 8), 0x51);
  const ctrl = (0x1234 << IMS_CTRL_PASID_SHIFT | IMS_CTRL_PASID_ENABLE) >>> 0;
  await c.write32(0, at(1, 12), ctrl | 0xf0); // reserved bits 7:4 are not kept
  t.is(await c.read32(0, at(1, 12)), ctrl);
  t.like(h.device.ims.slot(1), { masked: false, pasid: 0x1234 });
  h.device.fireIms(1);
  await eventually('the message', () => c.memory.msis.length === 1);
  t.like(c.memory.msis[0], { address: 0xfee00000n, data: 0x51 });
  await c.write32(0, at(1, 12), 0x1234 << IMS_CTRL_PASID_SHIFT); // PASID field without the enable bit
  t.is(h.device.ims.slot(1).pasid, undefined, 'no PASID unless enabled');
  await rec.close();
  const irq = (await records(file)).find((r): r is IrqRecord => r.kind === 'irq' && r.outcome === 'delivered')!;
  t.is(irq.pasid, 0x1234);
  t.regex(describe(irq), /ims slot 1 delivered 0xfee00000\/0x51 pasid 0x1234 \(not carried by the message\)/);
});

test('system memory: IMS_DISCARD drops what a slot holds, so the next unmask sends nothing stale', async (t) => {
  const { h, c } = await rig(t);
  const table = 0x100000n;
  const slot = (s: number, address: number, data: number, ctrl: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(address, 0);
    b.writeUInt32LE(data, 8);
    b.writeUInt32LE(ctrl, 12);
    c.memory.write(table + BigInt(s * 16), b);
  };
  await c.write32(0, Reg.IMS_BASE_LO, Number(table));
  await c.write32(0, Reg.CTRL, CTRL_IMS_SYSMEM);
  slot(3, 0xfee00000, 0x63, IMS_CTRL_MASK);
  h.device.fireIms(3);
  await eventually('slot 3 held', () => h.device.ims.pending(3));
  await c.write32(0, Reg.IMS_DISCARD, 3);
  t.false(h.device.ims.pending(3));
  slot(3, 0xfee00000, 0x64, 0); // a new owner's message, unmasked
  await c.write32(0, Reg.IMS_UNMASK, 3);
  await c.read32(0, Reg.ID);
  await h.device.ims.settled();
  t.is(c.memory.msis.length, 0, 'nothing stale for the new owner');
  t.is(h.device.counters.get('ims', 3, 'discarded'), 1);
});

test('bus mastering off: interrupts are lost by default; with busMasterOff latch they are held and sent when it comes on', async (t) => {
  for (const busMasterOff of ['drop', 'latch'] as const) {
    const { h, c } = await rig(t, new ImsQueueDevice({ busMasterOff }));
    await c.write32(0, at(0, 0), 0xfee00000);
    await c.write32(0, at(0, 8), 0x40);
    await c.write32(0, at(0, 12), 0);
    await c.write32(0, at(1, 0), 0xfee00000);
    await c.write32(0, at(1, 8), 0x41); // slot 1 stays masked
    await c.write32(2, 12, 0); // MSI-X vector 0 unmasked in the device's own table
    await c.write16(Region.CONFIG, h.device.caps.msix! + R.PCI_MSIX_FLAGS, R.PCI_MSIX_FLAGS_ENABLE);
    const [ev] = await c.bindEventfds(2, 0, 1);
    await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY);
    const outcomes = [h.device.fireIms(0), h.device.fireIms(1), h.device.fireMsix(0)];
    await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
    await c.read32(0, Reg.ID);
    if (busMasterOff === 'drop') {
      t.deepEqual(outcomes, ['blocked', 'blocked', 'blocked']);
      t.is(c.memory.msis.length, 0, 'drop: nothing arrives when bus mastering comes back');
      t.is(ev.total, 0);
    } else {
      t.deepEqual(outcomes, ['pending', 'pending', 'pending']);
      await eventually('the latched IMS and MSI-X interrupts', () => c.memory.msis.length === 1 && ev.total === 1);
      t.is(c.memory.msis[0].data, 0x40);
      t.true(h.device.ims.slot(1).pending, 'a masked slot keeps holding its latched interrupt');
      await c.write32(0, at(1, 12), 0);
      await eventually('slot 1 on unmask', () => c.memory.msis.length === 2);
    }
  }
});
