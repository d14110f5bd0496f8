// End to end on a real Debian kernel: one boot per configuration, many checks
// in it. The guest module drives the reference device with its PCI/MSI-X code
// and a device-specific IMS irq domain; the device runs in this process, so
// the tests fire interrupts from here and read what the guest counted.
import test, { type ExecutionContext } from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { fireInRounds } from '../../src/lab/rounds.ts';
import { walkConfigCaps, walkConfigExtCaps } from '../../src/pci/walk.ts';
import * as R from '../../src/pci/regs.ts';
import { IRQLAB_VENDOR_ID, IRQLAB_DEVICE_ID } from '../../src/devices/ims-queue.ts';
import type { GuestDriver } from '../../src/guest/driver.ts';

export interface GuestConfig {
  kernel: '6.12' | '7.3';
  iommu: boolean;
  cmdline?: string;
  /** Also run the system-memory IMS checks (needs a module reload). */
  sysmem?: boolean;
  /**
   * The guest translates the device's DMA (vIOMMU DMA remapping on): the
   * device then cannot read QEMU's emulated MSI-X table, so the PBA does not
   * show vectors QEMU holds (QEMU still holds and delivers them).
   */
  dmaTranslation?: boolean;
}

/** Polls an async condition. */
export async function eventually(what: string, cond: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const quiet = (ms = 300) => new Promise((r) => setTimeout(r, ms));

export function guestSuite(cfg: GuestConfig): void {
  const label = `${cfg.kernel}${cfg.iommu ? ' + interrupt remapping' : ''}${cfg.dmaTranslation ? ' + DMA translation' : ''}`;
  let bed: Testbed;
  let drv: GuestDriver;

  test.before(async () => {
    bed = await Testbed.start({ kernel: cfg.kernel, iommu: cfg.iommu, cpus: 2, cmdline: cfg.cmdline });
    drv = bed.driver!;
  });
  test.after.always(async () => {
    await bed?.stop();
  });

  const counts = async (kind: 'queues' | 'msix') =>
    kind === 'queues' ? (await drv.queues()).map((q) => q.count) : (await drv.msix()).map((v) => v.count);

  /**
   * Fires every index once per round (distinct vectors in the guest, so
   * nothing coalesces in its APIC), K rounds, waiting for each round to land.
   */
  async function fireRounds(t: ExecutionContext, kind: 'queues' | 'msix', indexes: number[], rounds: number, fire: (i: number) => void): Promise<void> {
    const { received } = await fireInRounds({ indexes, rounds, fire, counts: () => counts(kind) });
    for (const i of indexes) t.is(received[i], rounds, `${kind} ${i}: fired ${rounds}, counted ${received[i]}`);
  }

  const serial = (name: string, fn: (t: ExecutionContext) => Promise<void>) => test.serial(`${label}: ${name}`, fn);

  // ---- issue 4: the guest's PCI and MSI-X code against the device -------------

  serial('the guest enumerates the device as lspci shows it: ids, class, BARs, capabilities', async (t) => {
    const d = `/sys/bus/pci/devices/${drv.bdf}`;
    const read = async (f: string) => (await bed.vm.readFile(`${d}/${f}`)).toString().trim();
    t.is(await read('vendor'), `0x${IRQLAB_VENDOR_ID.toString(16)}`);
    t.is(await read('device'), `0x${IRQLAB_DEVICE_ID.toString(16).padStart(4, '0')}`);
    t.is(await read('class'), '0xff0000');
    const res = (await read('resource')).split('\n').map((l) => l.split(' ').map((x) => BigInt(x)));
    const size = (i: number) => (res[i][1] === 0n ? 0n : res[i][1] - res[i][0] + 1n);
    t.is(size(0), 0x4000n, 'BAR0 16 KiB');
    t.truthy(res[0][2] & 0x100000n, 'BAR0 is 64-bit (IORESOURCE_MEM_64)');
    t.is(size(2), 0x2000n, 'BAR2 8 KiB');
    t.falsy(res[2][2] & 0x100000n, 'BAR2 is 32-bit');
    t.is(size(1), 0n);
    const config = await bed.vm.readFile(`${d}/config`);
    t.is(config.length, 4096, 'extended config space visible');
    const caps = walkConfigCaps(config).map((c) => c.id);
    for (const id of [R.PCI_CAP_ID_PM, R.PCI_CAP_ID_EXP, R.PCI_CAP_ID_MSIX]) t.true(caps.includes(id), `capability 0x${id.toString(16)} in ${caps}`);
    t.deepEqual(walkConfigExtCaps(config).map((c) => c.id), [R.PCI_EXT_CAP_ID_ERR, R.PCI_EXT_CAP_ID_DSN]);
    t.is(await read('driver/module/refcnt').catch(() => 'x'), '0');
    t.regex((await bed.vm.run(`readlink ${d}/driver`)).stdout.trim(), /\/irqlab$/);
  });

  serial('the module binds and gets every MSI-X vector; each fired N times is counted N times', async (t) => {
    const info = await drv.info();
    t.is(info.msixVectors, 8);
    t.is(info.queues, 8);
    await fireRounds(t, 'msix', [0, 1, 2, 3, 4, 5, 6, 7], 5, (v) => bed.device.fireMsix(v));
  });

  serial(`a vector masked by the guest is held${cfg.dmaTranslation ? '' : ' with its PBA bit set'}, and delivered once on unmask`, async (t) => {
    const before = await drv.vectorCount(3);
    await drv.ctl('mask msix 3');
    t.true((await drv.msix())[3].masked, 'the guest sees the vector masked');
    bed.device.fireMsix(3);
    if (!cfg.dmaTranslation) await eventually('the PBA bit as the guest reads it', async () => (await drv.msix())[3].pending === true);
    await quiet();
    t.is(await drv.vectorCount(3), before, 'nothing delivered while masked');
    await drv.ctl('unmask msix 3');
    await eventually('delivery on unmask', async () => (await drv.vectorCount(3)) === before + 1);
    await quiet();
    t.is(await drv.vectorCount(3), before + 1, 'delivered exactly once');
    t.false((await drv.msix())[3].pending, 'pending bit cleared');
  });

  serial('bus mastering off: nothing is delivered; back on: delivery resumes', async (t) => {
    const before = await counts('msix');
    const blocked = bed.device.counters.get('msix', 0, 'blocked');
    await drv.ctl('busmaster 0');
    bed.device.fireMsix(0);
    bed.device.fireMsix(1);
    await quiet(500);
    t.deepEqual(await counts('msix'), before);
    t.is(bed.device.counters.get('msix', 0, 'blocked'), blocked + 1, 'the device could not send');
    await drv.ctl('busmaster 1');
    await fireRounds(t, 'msix', [0, 1], 1, (v) => bed.device.fireMsix(v));
  });

  serial(`the guest's MSI-X chain: ${cfg.iommu ? 'IR-PCI-MSIX on INTEL-IR on VECTOR' : 'PCI-MSIX on VECTOR'}`, async (t) => {
    const rows = (await drv.hierarchy()).filter((r) => r.name.startsWith('msix'));
    t.is(rows.length, 8);
    for (const r of rows) {
      if (cfg.iommu) {
        t.regex(r.chain[0], /^IR-PCI-MSIX-/);
        t.regex(r.chain[1], /^INTEL-IR-/);
        t.is(r.chain[2], 'VECTOR');
      } else {
        t.regex(r.chain[0], /^PCI-MSIX-/);
        t.is(r.chain[1], 'VECTOR');
      }
    }
  });

  // ---- issue 5: IMS ---------------------------------------------------------------

  imsChecks(serial, () => bed, () => drv, fireRounds, cfg);
}

type Serial = (name: string, fn: (t: ExecutionContext) => Promise<void>) => void;
type FireRounds = (t: ExecutionContext, kind: 'queues' | 'msix', indexes: number[], rounds: number, fire: (i: number) => void) => Promise<void>;

function imsChecks(serial: Serial, bedOf: () => Testbed, drvOf: () => GuestDriver, fireRounds: FireRounds, cfg: GuestConfig): void {
  const all = [0, 1, 2, 3, 4, 5, 6, 7];

  serial('every queue gets an IMS interrupt; each fired K times is counted K times', async (t) => {
    const bed = bedOf();
    const rows = await drvOf().queues();
    t.deepEqual(rows.map((r) => r.route), all.map(() => 'ims'));
    for (const r of rows) {
      const slot = bed.device.ims.slot(r.index);
      t.is(slot.address, r.address, `slot ${r.index} holds the message the guest composed`);
      t.is(slot.data, r.data);
      t.false(slot.masked);
    }
    await fireRounds(t, 'queues', all, 4, (q) => bed.device.complete(q, 1));
  });

  serial(`the IMS domain sits ${cfg.iommu ? 'over INTEL-IR over VECTOR' : 'over VECTOR'}`, async (t) => {
    const drv = drvOf();
    const info = await drv.info();
    t.regex(info.imsDomain, /^irqlab-ims-/);
    t.regex(info.parentDomain, cfg.iommu ? /^INTEL-IR-/ : /^VECTOR$/);
    const rows = (await drv.hierarchy()).filter((r) => r.name.startsWith('q'));
    t.is(rows.length, 8);
    for (const r of rows) {
      t.is(r.chain[0], info.imsDomain);
      t.deepEqual(r.chain.slice(1), cfg.iommu ? [info.parentDomain, 'VECTOR'] : ['VECTOR']);
    }
  });

  serial('an IMS slot masked by the guest holds its interrupt; unmask delivers it once', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const before = await drv.queueCount(2);
    await drv.ctl('mask ims 2');
    t.true(bed.device.ims.slot(2).masked, 'the mask bit reached the device');
    bed.device.complete(2, 1);
    t.true(bed.device.ims.slot(2).pending, 'held pending in the device');
    await quiet();
    t.is(await drv.queueCount(2), before);
    await drv.ctl('unmask ims 2');
    await eventually('delivery on unmask', async () => (await drv.queueCount(2)) === before + 1);
    await quiet();
    t.is(await drv.queueCount(2), before + 1);
    t.false(bed.device.ims.slot(2).pending);
  });

  serial('bus mastering off blocks IMS messages; on again they flow', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const before = await drv.queueCount(5);
    await drv.ctl('busmaster 0');
    bed.device.complete(5, 1);
    await quiet(500);
    t.is(await drv.queueCount(5), before);
    t.true(bed.device.counters.get('ims', 5, 'blocked') >= 1);
    await drv.ctl('busmaster 1');
    await fireRounds(t, 'queues', [5], 1, (q) => bed.device.complete(q, 1));
  });

  serial(`moving a queue's interrupt to the other CPU keeps delivery working${cfg.iommu ? ' (the remapped message stays the same)' : ' and rewrites the slot'}`, async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const row = (await drv.queues())[4];
    const before = bed.device.ims.slot(4);
    const cpu = Number((await bed.vm.readFile(`/proc/irq/${row.irq}/effective_affinity_list`)).toString().trim());
    const other = cpu === 0 ? 1 : 0;
    await bed.vm.writeFile(`/proc/irq/${row.irq}/smp_affinity_list`, `${other}\n`);
    // The vector domain moves an interrupt when it next fires.
    await fireRounds(t, 'queues', [4], 2, (q) => bed.device.complete(q, 1));
    const eff = Number((await bed.vm.readFile(`/proc/irq/${row.irq}/effective_affinity_list`)).toString().trim());
    t.is(eff, other, 'the interrupt now targets the other CPU');
    const after = bed.device.ims.slot(4);
    if (cfg.iommu) {
      t.is(after.address, before.address, 'remapped: the IRTE changed, not the message');
      t.is(after.data, before.data);
    } else {
      t.not(after.address, before.address, 'the destination in the address changed');
    }
    const perCpu = (await bed.vm.run(`grep 'irqlab-q4' /proc/interrupts`)).stdout.trim().split(/\s+/);
    t.true(Number(perCpu[1 + other]) >= 1, `CPU${other} took interrupts: ${perCpu.join(' ')}`);
  });

  serial('MSI-X and IMS interrupts coexist on the device', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    await drv.ctl('route 0 msix');
    const rows = await drv.queues();
    t.is(rows[0].route, 'msix');
    t.is(rows[1].route, 'ims');
    await fireRounds(t, 'queues', [0, 1], 3, (q) => bed.device.complete(q, 1));
    t.true(bed.device.counters.get('msix', 0, 'delivered') >= 3);
    await drv.ctl('route 0 ims');
  });

  serial('module unload clears and masks every slot; reload works', async (t) => {
    const bed = bedOf();
    await bed.vm.run('rmmod irqlab', { check: true });
    for (let i = 0; i < bed.device.ims.slots; i++) {
      const s = bed.device.ims.slot(i);
      if (s.address !== 0n || s.data !== 0 || !s.masked) t.fail(`slot ${i} left as ${JSON.stringify({ ...s, address: s.address.toString(16) })}`);
    }
    t.pass('64 slots cleared and masked');
    await bed.vm.insmod('irqlab.ko');
    await fireRounds(t, 'queues', all, 1, (q) => bed.device.complete(q, 1));
  });

  if (cfg.sysmem) {
    serial('IMS messages in system memory: the device reads the slot by DMA; same delivery, masking and bus-master rules', async (t) => {
      const bed = bedOf();
      await bed.reloadModule('ims_sysmem=1');
      const drv = drvOf();
      t.is((await drv.info()).mode, 'sysmem');
      t.not(bed.device.ims.sysmemBase, undefined, 'the device got the table address');
      await fireRounds(t, 'queues', all, 3, (q) => bed.device.complete(q, 1));
      const before = await drv.queueCount(6);
      await drv.ctl('mask ims 6');
      bed.device.complete(6, 1);
      await quiet();
      t.is(await drv.queueCount(6), before, 'held while masked in memory');
      await drv.ctl('unmask ims 6');
      await eventually('delivery on unmask', async () => (await drv.queueCount(6)) === before + 1);
      const seven = await drv.queueCount(7);
      await drv.ctl('busmaster 0');
      bed.device.complete(7, 1);
      await quiet();
      t.is(await drv.queueCount(7), seven, 'bus master off: the device neither reads the slot nor sends');
      await drv.ctl('busmaster 1');
      await bed.reloadModule('');
    });
  }
}
