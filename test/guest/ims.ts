// IMS in the guest suites' shared boot: the guest module's device-specific
// IMS domain (the ims_irqchip library) against the reference device --
// delivery, masking and its flush, bus mastering, affinity, unload/reload
// cycles, and the system-memory table.
import type { ExecutionContext } from 'ava';
import type { Testbed } from '../../src/lab/testbed.ts';
import type { GuestDriver } from '../../src/guest/driver.ts';
import { fireInRounds } from '../../src/lab/rounds.ts';
import { IMS_SLOT_SIZE, IMS_CTRL, IMS_CTRL_MASK } from '../../src/irq/ims.ts';
import { eventually, irqlabInterrupts, type GuestCtx } from './helpers.ts';
import { sysmemLfuncCycle } from './lfunc.ts';

const all = [0, 1, 2, 3, 4, 5, 6, 7];

/** How many messages the device sends for `slot` from now on (its own count: exact, no waiting). */
function sentCounter(bed: Testbed, slot: number): () => number {
  const base = bed.device.counters.get('ims', slot, 'delivered');
  return () => bed.device.counters.get('ims', slot, 'delivered') - base;
}

/**
 * Queue q's lfunc is destroyed while its slot holds an interrupt (the slot
 * masked behind the irq core's back, then a completion: a disabled irq would
 * be enabled before free_irq and take it): the library discards it as it
 * clears the slot (the W1C pending bit; IMS_DISCARD in system memory), so
 * when the same slot goes to a new lfunc, its unmask sends nothing.
 */
async function freedSlotHoldsNothing(t: ExecutionContext, bed: Testbed, drv: GuestDriver, q: number): Promise<void> {
  const lf = (await drv.lfuncs()).find((l) => l.queue === q)!;
  const slot = lf.irqs[0].hwirq;
  const discarded = bed.device.counters.get('ims', slot, 'discarded');
  await drv.ctl(`hwmask ims ${slot}`);
  bed.device.complete(q, 1);
  await eventually(`slot ${slot} holding the interrupt`, async () => bed.device.ims.pending(slot));
  await drv.destroyLfunc(lf.id);
  // In device memory the clear is flushed; in system memory IMS_DISCARD is a posted write of its own.
  await eventually(`slot ${slot}: what it held discarded when it was freed`, async () => !bed.device.ims.pending(slot));
  t.is(bed.device.counters.get('ims', slot, 'discarded'), discarded + 1);
  const sent = sentCounter(bed, slot);
  const again = await drv.createLfunc({ queue: q });
  t.deepEqual(again.irqs.map((i) => i.hwirq), [slot], 'the same slot, to a new owner');
  // In system memory a delivery starts with a DMA read of the slot: let any be on its way first.
  await bed.device.ims.settled();
  t.is(sent(), 0, 'its unmask sent nothing stale');
  const { received } = await fireInRounds({ indexes: [q], rounds: 1, fire: (i) => bed.device.complete(i, 1), counts: async () => (await drv.queues()).map((r) => r.count) });
  t.is(received[q], 1, 'the new owner counts its own interrupt, once');
}

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
    const sent = sentCounter(bed, 2);
    await drv.ctl('mask ims 2');
    t.true(bed.device.ims.slot(2).masked, 'the mask bit reached the device');
    t.deepEqual(bed.device.complete(2, 1), ['pending'], 'held pending in the device');
    t.true(bed.device.ims.slot(2).pending);
    t.is(await drv.queueCount(2), before, 'nothing was sent, so nothing is counted');
    await drv.ctl('unmask ims 2');
    await eventually('delivery on unmask', async () => (await drv.queueCount(2)) === before + 1);
    t.is(sent(), 1, 'sent exactly once');
    t.false(bed.device.ims.slot(2).pending);
  });

  serial('a slot freed while it holds an interrupt gives its next owner nothing stale (the library discards it)', async (t) => {
    await freedSlotHoldsNothing(t, bedOf(), drvOf(), 5);
  });

  serial('a driver mistake the device sees is a guest error, counted by kind: more work than a queue holds', async (t) => {
    const bed = bedOf();
    await drvOf().ctl('submit 0 5000');
    // The doorbell is a posted write: the ctl returns once the guest issued
    // it, not once the device judged it.
    await eventually('the device judged the doorbell', () => bed.device.guestErrors().counts['device-rule'] === 1);
    t.is(bed.device.queue(0).submitted, 0, 'refused');
    const g = bed.device.clearGuestErrors();
    t.deepEqual(g.counts, { 'device-rule': 1 });
    t.regex(g.recent[0].message, /queue 0 doorbell: 5000 work items exceed the queue depth of 1024; ignored/);
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
    // A read-back would have completed before the ctl write returned, after the write: none can still come.
    await eventually('the posted mask write', async () => watch.log.includes(`w ${ctrl} ${IMS_CTRL_MASK}`));
    t.false(watch.log.includes(`r ${ctrl}`), `unflushed: no read-back, got [${watch.log.join(', ')}]`);
    await drv.ctl('unmask ims 2');
    await bed.reloadModule('');
  });

  serial('bus mastering off blocks IMS messages; on again they flow', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const before = await drv.queueCount(5);
    await drv.ctl('busmaster 0');
    t.deepEqual(bed.device.complete(5, 1), ['blocked'], 'the device could not send');
    t.is(await drv.queueCount(5), before, 'nothing was sent, so nothing is counted');
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
      const sent = sentCounter(bed, 6);
      await drv.ctl('mask ims 6');
      const held = bed.device.counters.get('ims', 6, 'pending');
      t.deepEqual(bed.device.complete(6, 1), ['queued'], 'the device reads the slot by DMA first');
      await eventually('the slot read as masked', async () => bed.device.counters.get('ims', 6, 'pending') === held + 1);
      t.is(await drv.queueCount(6), before, 'held while masked in memory');
      await drv.ctl('unmask ims 6');
      await eventually('delivery on unmask', async () => (await drv.queueCount(6)) === before + 1);
      t.is(sent(), 1, 'sent exactly once');
      const seven = await drv.queueCount(7);
      await drv.ctl('busmaster 0');
      t.deepEqual(bed.device.complete(7, 1), ['blocked'], 'bus master off: the device neither reads the slot nor sends');
      t.is(await drv.queueCount(7), seven);
      await drv.ctl('busmaster 1');
      await freedSlotHoldsNothing(t, bed, drv, 4);
      await sysmemLfuncCycle(t, bed, drv);
      await bed.reloadModule('');
      t.is(bed.device.ims.sysmemBase, undefined, 'unload took the device out of system-memory mode');
    });
  }
}
