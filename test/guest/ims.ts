// IMS in the guest suites' shared boot: the guest module's device-specific
// IMS domain (the ims_irqchip library) against the reference device --
// delivery, masking and its flush, bus mastering, affinity, unload/reload
// cycles, and the system-memory table.
import type { Testbed } from '../../src/lab/testbed.ts';
import { IMS_SLOT_SIZE, IMS_CTRL, IMS_CTRL_MASK } from '../../src/irq/ims.ts';
import { eventually, quiet, irqlabInterrupts, type GuestCtx } from './helpers.ts';
import { sysmemLfuncCycle } from './lfunc.ts';

const all = [0, 1, 2, 3, 4, 5, 6, 7];

/**
 * Records the guest's accesses to the device's IMS table window as they
 * reach the device ("w OFFSET VALUE", "r OFFSET"), until the returned stop().
 */
function watchImsWindow(bed: Testbed): { log: string[]; stop: () => void } {
  const ims = bed.device.ims;
  const read = ims.read;
  const write = ims.write;
  const log: string[] = [];
  ims.read = (offset, length) => {
    log.push(`r ${offset}`);
    return read.call(ims, offset, length);
  };
  ims.write = (offset, data) => {
    log.push(`w ${offset} ${Buffer.from(data).readUIntLE(0, data.length)}`);
    write.call(ims, offset, data);
  };
  return { log, stop: () => { ims.read = read; ims.write = write; } };
}

export function imsChecks({ serial, bed: bedOf, drv: drvOf, fireRounds, cfg }: GuestCtx): void {
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
    const rows = (await drv.hierarchy()).filter((r) => r.name.startsWith('lfunc'));
    t.deepEqual(rows.map((r) => r.name), all.map((q) => `lfunc${q}.0`));
    const lfs = await drv.lfuncs();
    for (const [i, r] of rows.entries()) {
      t.is(r.irq, lfs[i].irqs[0].irq);
      t.is(r.levels[0].hwirq, lfs[i].irqs[0].hwirq, `${r.name}: the IMS level's hwirq is its slot`);
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

  serial('the guest flushes an IMS mask and unmask with a read of the slot before returning; unflushed_mask=1 does not', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const ctrl = 2 * IMS_SLOT_SIZE + IMS_CTRL;
    const watch = watchImsWindow(bed);
    t.teardown(watch.stop);
    for (const [cmd, value] of [['mask', IMS_CTRL_MASK], ['unmask', 0]] as const) {
      watch.log.length = 0;
      await drv.ctl(`${cmd} ims 2`);
      // The ctl write returned, so the read completed: it is in the log, after the write.
      const w = watch.log.indexOf(`w ${ctrl} ${value}`);
      t.true(w >= 0 && watch.log.indexOf(`r ${ctrl}`, w) > w, `${cmd}: write then read of slot 2's control word, got [${watch.log.join(', ')}]`);
    }

    await bed.reloadModule('unflushed_mask=1');
    t.is((await drv.info()).raw.unflushed_mask, '1');
    watch.log.length = 0;
    await drv.ctl('mask ims 2');
    await eventually('the posted mask write', async () => watch.log.includes(`w ${ctrl} ${IMS_CTRL_MASK}`));
    await quiet();
    t.false(watch.log.includes(`r ${ctrl}`), `unflushed: no read-back, got [${watch.log.join(', ')}]`);
    await drv.ctl('unmask ims 2');
    await bed.reloadModule('');
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
    const lf = (await drv.lfuncs()).find((l) => l.queue === 4)!;
    t.deepEqual(lf.irqs[0].effectiveAffinity, [other], 'sysfs lfunc/4 shows the new effective affinity');
    const after = bed.device.ims.slot(4);
    if (cfg.iommu) {
      t.is(after.address, before.address, 'remapped: the IRTE changed, not the message');
      t.is(after.data, before.data);
    } else {
      t.not(after.address, before.address, 'the destination in the address changed');
    }
    const perCpu = (await bed.vm.run(`grep '^ *${row.irq}:' /proc/interrupts`)).stdout.trim().split(/\s+/);
    t.true(Number(perCpu[1 + other]) >= 1, `CPU${other} took interrupts: ${perCpu.join(' ')}`);
  });

  serial('MSI-X and IMS interrupts coexist on the device; rerouting frees and reallocates the slot', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    await drv.ctl('route 0 msix');
    const rows = await drv.queues();
    t.is(rows[0].route, 'msix');
    t.is(rows[1].route, 'ims');
    t.like(bed.device.ims.slot(0), { address: 0n, masked: true }, 'slot 0 given back');
    t.deepEqual((await drv.lfuncs())[0].irqs.map((i) => [i.mode, i.hwirq]), [['msix', 0]]);
    await fireRounds(t, 'queues', [0, 1], 3, (q) => bed.device.complete(q, 1));
    t.true(bed.device.counters.get('msix', 0, 'delivered') >= 3);
    await drv.ctl('route 0 ims');
    t.deepEqual((await drv.lfuncs())[0].irqs.map((i) => [i.mode, i.hwirq]), [['ims', 0]], 'the lowest free slot again');
    await fireRounds(t, 'queues', [0], 1, (q) => bed.device.complete(q, 1));
  });

  serial('module unload clears and masks every slot and leaves no irq; 5 unload/reload cycles', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const loaded = await irqlabInterrupts(bed);
    for (let cycle = 0; cycle < 5; cycle++) {
      await bed.vm.run('rmmod irqlab', { check: true });
      const dirty = [...Array(bed.device.ims.slots).keys()].map((i) => ({ i, s: bed.device.ims.slot(i) }))
        .filter(({ s }) => s.address !== 0n || s.data !== 0 || !s.masked);
      t.deepEqual(dirty.map(({ i }) => i), [], `cycle ${cycle}: every slot cleared and masked`);
      t.deepEqual(await irqlabInterrupts(bed), [], `cycle ${cycle}: no irqlab interrupt left`);
      t.is((await bed.vm.run(`[ -e ${drv.lfuncDir} ]`)).status, 1, `cycle ${cycle}: lfunc/ gone from sysfs`);
      await bed.vm.insmod('irqlab.ko');
      t.is((await irqlabInterrupts(bed)).length, loaded.length);
    }
    await fireRounds(t, 'queues', all, 1, (q) => bed.device.complete(q, 1));
  });

  if (cfg.sysmem) {
    serial('IMS messages in system memory: the device reads the slot by DMA; same library, delivery, masking, bus-master rules and lfunc cycles', async (t) => {
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
      await sysmemLfuncCycle(t, bed, drv);
      await bed.reloadModule('');
      t.is(bed.device.ims.sysmemBase, undefined, 'unload took the device out of system-memory mode');
    });
  }
}
