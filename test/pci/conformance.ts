// PCI behaviour any irqlab device must show, checked from the outside through
// the vfio-user client only: config space masks, BAR sizing, the capability
// chains, FLR, MSI-X masking and pending bits, SET_IRQS, INTx, bus mastering.
// Everything about the device is discovered from its config space; the
// subject only says how to make it raise an interrupt.
import test, { type ExecutionContext } from 'ava';
import { VfioUserClient } from '../../src/client/index.ts';
import {
  Region, IrqIndex, VfioError, Errno, IRQ_SET_DATA_NONE, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_EVENTFD,
  IRQ_SET_ACTION_TRIGGER, IRQ_SET_ACTION_MASK, IRQ_SET_ACTION_UNMASK, IRQ_INFO_MASKABLE, IRQ_INFO_AUTOMASKED,
} from '../../src/protocol/index.ts';
import * as R from '../../src/pci/regs.ts';
import { EventFd } from '../../ffi/index.ts';
import { sleep } from '../helpers/server.ts';

export interface Subject {
  name: string;
  socket: string;
  /** A RW register in some BAR with no side effects, reset value 0. */
  scratch: { bar: number; offset: number };
  /** Makes the device raise MSI-X vector v (through its registers). */
  fireMsix(c: VfioUserClient, v: number): Promise<void>;
  /** Asserts / clears the device's INTx cause, if it has one. */
  intx?: { assert(c: VfioUserClient): Promise<void>; clear(c: VfioUserClient): Promise<void> };
}

const cfg = Region.CONFIG;

export async function walkCaps(c: VfioUserClient): Promise<Map<number, number>> {
  const caps = new Map<number, number>();
  let at = await c.read8(cfg, R.PCI_CAPABILITY_LIST);
  const seen = new Set<number>();
  while (at) {
    if (seen.has(at) || at < 0x40 || at & 3) throw new Error(`bad capability pointer 0x${at.toString(16)}`);
    seen.add(at);
    caps.set(await c.read8(cfg, at), at);
    at = await c.read8(cfg, at + 1);
  }
  return caps;
}

export async function walkExtCaps(c: VfioUserClient): Promise<{ id: number; version: number; at: number }[]> {
  const out = [];
  let at = 0x100;
  while (at) {
    const h = await c.configRead32(at);
    if (h === 0) break;
    out.push({ id: h & 0xffff, version: (h >> 16) & 0xf, at });
    at = h >>> 20;
    if (out.length > 64) throw new Error('extended capability loop');
  }
  return out;
}

interface Msix {
  cap: number;
  vectors: number;
  bar: number;
  table: number;
  pba: number;
}

async function msixOf(c: VfioUserClient): Promise<Msix> {
  const cap = (await walkCaps(c)).get(R.PCI_CAP_ID_MSIX);
  if (cap === undefined) throw new Error('no MSI-X capability');
  const t = await c.configRead32(cap + R.PCI_MSIX_TABLE);
  const p = await c.configRead32(cap + R.PCI_MSIX_PBA);
  return { cap, vectors: ((await c.read16(cfg, cap + 2)) & R.PCI_MSIX_FLAGS_QSIZE) + 1, bar: t & 7, table: t & ~7, pba: p & ~7 };
}

async function msixControl(c: VfioUserClient, m: Msix, value: number): Promise<void> {
  await c.write16(cfg, m.cap + R.PCI_MSIX_FLAGS, value);
}

async function vectorMask(c: VfioUserClient, m: Msix, v: number, masked: boolean): Promise<void> {
  await c.write32(m.bar, m.table + v * 16 + 12, masked ? 1 : 0);
}

async function pbaBit(c: VfioUserClient, m: Msix, v: number): Promise<boolean> {
  const w = await c.read32(m.bar, m.pba + (v >> 5) * 4);
  return ((w >>> (v & 31)) & 1) === 1;
}

/** Lets eventfd signals reach their pollers. */
const settle = () => sleep(20);

async function withClient(t: ExecutionContext, s: Subject): Promise<VfioUserClient> {
  const c = await VfioUserClient.connect(s.socket);
  t.teardown(() => c.close());
  await c.reset();
  return c;
}

/** Registers the suite for one device; `subject` is called once the device is up. */
export function pciConformance(label: string, subject: () => Subject): void {
  const s = () => subject();
  const name = (what: string) => `${label}: ${what}`;

  test.serial(name('read-only identity registers ignore writes'), async (t) => {
    const c = await withClient(t, s());
    const id = await c.configRead32(0);
    await c.configWrite32(0, 0xffffffff);
    t.is(await c.configRead32(0), id);
    const cls = await c.configRead32(R.PCI_REVISION_ID);
    await c.configWrite32(R.PCI_REVISION_ID, 0);
    t.is(await c.configRead32(R.PCI_REVISION_ID), cls);
  });

  test.serial(name('command register: only its defined bits are writable'), async (t) => {
    const c = await withClient(t, s());
    await c.write16(cfg, R.PCI_COMMAND, 0xffff);
    t.is(await c.read16(cfg, R.PCI_COMMAND), 0x0547);
    await c.write16(cfg, R.PCI_COMMAND, 0);
    t.is(await c.read16(cfg, R.PCI_COMMAND), 0);
  });

  test.serial(name('a write straddling interrupt line (RW) and pin (RO) changes only the line'), async (t) => {
    const c = await withClient(t, s());
    const before = await c.configRead32(R.PCI_INTERRUPT_LINE);
    await c.configWrite32(R.PCI_INTERRUPT_LINE, 0xffffff5a);
    t.is(await c.configRead32(R.PCI_INTERRUPT_LINE), ((before & 0xffffff00) | 0x5a) >>> 0);
  });

  test.serial(name('status bits that are not write-1-to-clear ignore writes'), async (t) => {
    const c = await withClient(t, s());
    const st = await c.read16(cfg, R.PCI_STATUS);
    t.true((st & R.PCI_STATUS_CAP_LIST) !== 0, 'capability list bit set');
    await c.write16(cfg, R.PCI_STATUS, 0xffff);
    t.is(await c.read16(cfg, R.PCI_STATUS), st);
  });

  test.serial(name('BAR sizing: all-ones reads back the size mask with the type bits; absent BARs stay 0'), async (t) => {
    const c = await withClient(t, s());
    for (let i = 0; i < 6; i++) {
      const at = R.PCI_BASE_ADDRESS_0 + 4 * i;
      const orig = await c.configRead32(at);
      await c.configWrite32(at, 0xffffffff);
      const mask = await c.configRead32(at);
      const info = await c.regionInfo(i);
      if (info.size === 0n) {
        // Absent, or the upper half of a 64-bit BAR (sized with its lower half).
        const prev = i > 0 ? await c.configRead32(at - 4) : 0;
        if (i > 0 && (prev & 0x7) === 0x4) {
          await c.configWrite32(at, orig);
          continue;
        }
        t.is(mask, 0, `BAR${i} absent`);
        continue;
      }
      const size = Number(info.size);
      if (orig & 1) {
        t.is(mask, ((~(size - 1) & 0xfffffffc) | 1) >>> 0, `I/O BAR${i}`);
      } else {
        t.is((mask & 0xfffffff0) >>> 0, (~(size - 1) & 0xfffffff0) >>> 0, `BAR${i} size ${size}`);
        t.is(mask & 0xf, orig & 0xf, `BAR${i} type bits kept`);
        if ((orig & 0x6) === 0x4) {
          await c.configWrite32(at + 4, 0xffffffff);
          t.is(await c.configRead32(at + 4), 0xffffffff, `BAR${i} upper half fully writable`);
          await c.configWrite32(at + 4, 0);
        }
      }
      await c.configWrite32(at, 0xfe000000);
      t.is(((await c.configRead32(at)) & ~(size - 1) & 0xfffffff0) >>> 0, (0xfe000000 & ~(size - 1)) >>> 0, `BAR${i} takes an aligned address`);
      await c.configWrite32(at, orig);
    }
  });

  test.serial(name('no expansion ROM unless declared: the ROM BAR reads 0'), async (t) => {
    const c = await withClient(t, s());
    if ((await c.regionInfo(Region.ROM)).size !== 0n) return t.pass('this device declares a ROM');
    await c.configWrite32(R.PCI_ROM_ADDRESS, 0xffffffff);
    t.is(await c.configRead32(R.PCI_ROM_ADDRESS), 0);
  });

  test.serial(name('capability chains: PM, Express, MSI-X; extended AER then DSN from 0x100'), async (t) => {
    const c = await withClient(t, s());
    const caps = await walkCaps(c);
    for (const id of [R.PCI_CAP_ID_PM, R.PCI_CAP_ID_EXP, R.PCI_CAP_ID_MSIX]) t.true(caps.has(id), `capability 0x${id.toString(16)}`);
    const exp = caps.get(R.PCI_CAP_ID_EXP)!;
    t.is((await c.read16(cfg, exp + R.PCI_EXP_FLAGS)) & 0xf0, 0, 'Express endpoint');
    const ext = await walkExtCaps(c);
    t.deepEqual(ext.map((e) => e.id), [R.PCI_EXT_CAP_ID_ERR, R.PCI_EXT_CAP_ID_DSN]);
    t.is(ext[0].at, 0x100);
    t.is(ext[0].version, 2);
  });

  test.serial(name('PCIe device status is write-1-to-clear; DevCap advertises FLR'), async (t) => {
    const c = await withClient(t, s());
    const exp = (await walkCaps(c)).get(R.PCI_CAP_ID_EXP)!;
    t.truthy((await c.configRead32(exp + R.PCI_EXP_DEVCAP)) & R.PCI_EXP_DEVCAP_FLR);
    await c.write16(cfg, exp + R.PCI_EXP_DEVSTA, 0xffff);
    t.is(await c.read16(cfg, exp + R.PCI_EXP_DEVSTA), 0);
  });

  test.serial(name('function level reset returns registers, masks and pending bits to reset'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    const m = await msixOf(c);
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    await c.write32(subj.scratch.bar, subj.scratch.offset, 0xabcd1234);
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE | R.PCI_MSIX_FLAGS_MASKALL);
    await subj.fireMsix(c, 0); // pending under the function mask
    t.true(await pbaBit(c, m, 0));
    const exp = (await walkCaps(c)).get(R.PCI_CAP_ID_EXP)!;
    await c.write16(cfg, exp + R.PCI_EXP_DEVCTL, (await c.read16(cfg, exp + R.PCI_EXP_DEVCTL)) | R.PCI_EXP_DEVCTL_BCR_FLR);
    t.is(await c.read16(cfg, R.PCI_COMMAND), 0, 'command register reset');
    t.is(await c.read16(cfg, m.cap + 2) & 0xc000, 0, 'MSI-X disabled and unmasked');
    t.is((await c.read16(cfg, exp + R.PCI_EXP_DEVCTL)) & R.PCI_EXP_DEVCTL_BCR_FLR, 0, 'FLR bit reads 0');
    await c.write16(cfg, R.PCI_COMMAND, 0x2);
    t.is(await c.read32(subj.scratch.bar, subj.scratch.offset), 0, 'device register reset');
    t.false(await pbaBit(c, m, 0), 'pending bit cleared');
    t.is(await c.read32(m.bar, m.table + 12), 1, 'vector masked again');
  });

  test.serial(name('MSI-X: a vector fired while masked sets its PBA bit and is delivered exactly once on unmask'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    const m = await msixOf(c);
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    const evs = await c.bindEventfds(IrqIndex.MSIX, 0, m.vectors);
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE);
    // Reset state: every vector masked. (Reading the table also tells the
    // device that this client does not emulate it, unlike QEMU.)
    t.is(await c.read32(m.bar, m.table + 16 + 12), 1, 'vector control: masked at reset');
    await subj.fireMsix(c, 1);
    await settle();
    t.is(evs[1].total, 0, 'masked at reset: nothing delivered');
    t.true(await pbaBit(c, m, 1), 'pending bit set');
    await vectorMask(c, m, 1, false);
    await settle();
    t.is(evs[1].total, 1, 'delivered once on unmask');
    t.false(await pbaBit(c, m, 1), 'pending bit cleared on delivery');
    await subj.fireMsix(c, 1);
    await settle();
    t.is(evs[1].total, 2, 'unmasked: delivered at once');
    t.is(evs[0].total, 0, 'other vectors untouched');
  });

  test.serial(name('MSI-X: the function mask holds every vector; clearing it delivers each pending vector once'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    const m = await msixOf(c);
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    const evs = await c.bindEventfds(IrqIndex.MSIX, 0, m.vectors);
    for (let v = 0; v < m.vectors; v++) await vectorMask(c, m, v, false);
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE | R.PCI_MSIX_FLAGS_MASKALL);
    await subj.fireMsix(c, 0);
    await subj.fireMsix(c, 0);
    await subj.fireMsix(c, m.vectors - 1);
    await settle();
    t.deepEqual(evs.map((e) => e.total), evs.map(() => 0));
    t.true(await pbaBit(c, m, 0));
    t.true(await pbaBit(c, m, m.vectors - 1));
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE);
    await settle();
    t.is(evs[0].total, 1, 'two fires while masked: one pending bit, one delivery');
    t.is(evs[m.vectors - 1].total, 1);
  });

  test.serial(name('MSI-X disabled or bus mastering off: nothing is delivered, and delivery resumes after'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    const m = await msixOf(c);
    const evs = await c.bindEventfds(IrqIndex.MSIX, 0, m.vectors);
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    await vectorMask(c, m, 0, false);
    await subj.fireMsix(c, 0); // MSI-X not enabled
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE);
    await c.write16(cfg, R.PCI_COMMAND, 0x2); // bus master off
    await subj.fireMsix(c, 0);
    await settle();
    t.is(evs[0].total, 0);
    t.false(await pbaBit(c, m, 0), 'a blocked message is not pending');
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    await subj.fireMsix(c, 0);
    await settle();
    t.is(evs[0].total, 1);
  });

  test.serial(name('SET_IRQS: MSI-X is maskable through the client too; DATA_BOOL picks vectors; count 0 disables'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    const m = await msixOf(c);
    t.truthy((await c.irqInfo(IrqIndex.MSIX)).flags & IRQ_INFO_MASKABLE);
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    const evs = await c.bindEventfds(IrqIndex.MSIX, 0, m.vectors);
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE);
    for (let v = 0; v < m.vectors; v++) await vectorMask(c, m, v, false);
    await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_MASK, index: IrqIndex.MSIX, start: 0, count: 1 });
    await subj.fireMsix(c, 0);
    await settle();
    t.is(evs[0].total, 0, 'client mask holds');
    await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK, index: IrqIndex.MSIX, start: 0, count: 1 });
    await settle();
    t.is(evs[0].total, 1, 'client unmask delivers the pending vector');
    // Loopback trigger of vectors 1 and 3 only.
    await c.setIrqs({ flags: IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 4, data: new Uint8Array([0, 1, 0, 1]) });
    await settle();
    t.deepEqual([evs[1].total, evs[2].total, evs[3].total], [1, 0, 1]);
    // Disable: every eventfd released.
    await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 0 });
    await subj.fireMsix(c, 2);
    await settle();
    t.is(evs[2].total, 0, 'no eventfd after disable');
  });

  test.serial(name('SET_IRQS: a replaced eventfd stops being signalled; no descriptors de-assigns'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    const m = await msixOf(c);
    await c.write16(cfg, R.PCI_COMMAND, 0x6);
    await msixControl(c, m, R.PCI_MSIX_FLAGS_ENABLE);
    await vectorMask(c, m, 0, false);
    const [old] = await c.bindEventfds(IrqIndex.MSIX, 0, 1);
    const [fresh] = await c.bindEventfds(IrqIndex.MSIX, 0, 1);
    await subj.fireMsix(c, 0);
    await settle();
    t.is(old.total, 0);
    t.is(fresh.total, 1);
    await c.setIrqs({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 1 });
    await subj.fireMsix(c, 0);
    await settle();
    t.is(fresh.total, 1, 'de-assigned');
  });

  test.serial(name('SET_IRQS: invalid combinations are EINVAL and the connection stays usable'), async (t) => {
    const c = await withClient(t, s());
    const bad = async (set: Parameters<VfioUserClient['setIrqs']>[0], fds: number[] = []) => {
      const e = await t.throwsAsync(c.setIrqs(set, fds), { instanceOf: VfioError });
      t.is((e as VfioError).errno, Errno.EINVAL, JSON.stringify({ ...set, data: undefined }));
    };
    const ev = new EventFd();
    t.teardown(() => ev.close());
    const id = await c.configRead32(0);
    await bad({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_MASK, index: IrqIndex.MSIX, start: 0, count: 1 }, [ev.fd]);
    await bad({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_MASK, index: IrqIndex.ERR, start: 0, count: 1 });
    await bad({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 1, count: 0 });
    // A device without MSI has no MSI index to trigger.
    if (!(await walkCaps(c)).has(R.PCI_CAP_ID_MSI)) await bad({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSI, start: 0, count: 1 });
    await bad({ flags: IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.MSIX, start: 0, count: 2 }, [ev.fd]);
    await bad({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, index: IrqIndex.REQ, start: 1, count: 1 });
    t.is(await c.configRead32(0), id, 'the connection still answers');
  });

  test.serial(name('INTx: level held by Interrupt Disable and by the automask, status bit follows the level'), async (t) => {
    const subj = s();
    if (!subj.intx) return t.pass(`${subj.name} has no INTx cause to raise`);
    const c = await withClient(t, subj);
    const info = await c.irqInfo(IrqIndex.INTX);
    t.is(info.count, 1);
    t.truthy(info.flags & IRQ_INFO_AUTOMASKED);
    await c.write16(cfg, R.PCI_COMMAND, 0x2 | R.PCI_COMMAND_INTX_DISABLE);
    const [ev] = await c.bindEventfds(IrqIndex.INTX, 0, 1);
    await subj.intx.assert(c);
    await settle();
    t.is(ev.total, 0, 'Interrupt Disable holds the line');
    t.truthy((await c.read16(cfg, R.PCI_STATUS)) & R.PCI_STATUS_INTERRUPT, 'Interrupt Status set');
    await c.write16(cfg, R.PCI_COMMAND, 0x2);
    await settle();
    t.is(ev.total, 1, 'released when Interrupt Disable clears');
    await subj.intx.assert(c);
    await settle();
    t.is(ev.total, 1, 'automasked until the client unmasks');
    await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK, index: IrqIndex.INTX, start: 0, count: 1 });
    await settle();
    t.is(ev.total, 2, 'still asserted at unmask: signalled again');
    await subj.intx.clear(c);
    t.falsy((await c.read16(cfg, R.PCI_STATUS)) & R.PCI_STATUS_INTERRUPT, 'status follows the level');
    await c.setIrqs({ flags: IRQ_SET_DATA_NONE | IRQ_SET_ACTION_UNMASK, index: IrqIndex.INTX, start: 0, count: 1 });
    await settle();
    t.is(ev.total, 2, 'deasserted: nothing more');
  });

  test.serial(name('DEVICE_RESET returns device registers to reset values'), async (t) => {
    const subj = s();
    const c = await withClient(t, subj);
    await c.write16(cfg, R.PCI_COMMAND, 0x2);
    await c.write32(subj.scratch.bar, subj.scratch.offset, 0x55aa55aa);
    t.is(await c.read32(subj.scratch.bar, subj.scratch.offset), 0x55aa55aa);
    await c.reset();
    await c.write16(cfg, R.PCI_COMMAND, 0x2);
    t.is(await c.read32(subj.scratch.bar, subj.scratch.offset), 0);
  });
}
