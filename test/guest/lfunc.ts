// Logical functions (a queue plus its interrupts) of the guest module, in the
// guest suites' shared boot: what sysfs, debugfs and the device each show of
// them, run-time create/destroy with slots from the allocator, exact
// per-lfunc counts, and the system-memory storage through the same library.
import type { ExecutionContext } from 'ava';
import { fireInRounds } from '../../src/lab/rounds.ts';
import type { Testbed } from '../../src/lab/testbed.ts';
import type { GuestDriver, Lfunc } from '../../src/guest/driver.ts';
import { IMS_SLOT_SIZE } from '../../src/irq/ims.ts';
import { irqlabInterrupts, type GuestCtx } from './helpers.ts';

const all = [0, 1, 2, 3, 4, 5, 6, 7];

/** Fires every interrupt of lf once per round; interrupt 0 by a completion on its queue. */
async function fireLfunc(t: ExecutionContext, bed: Testbed, drv: GuestDriver, lf: Lfunc, rounds: number): Promise<void> {
  const indexes = lf.irqs.map((i) => i.index);
  const queueBefore = await drv.queueCount(lf.queue);
  const { received } = await fireInRounds({
    indexes, rounds,
    fire: (i) => (i === 0 ? bed.device.complete(lf.queue, 1) : bed.device.fireIms(lf.irqs[i].hwirq)),
    counts: async () => {
      const rows = (await drv.lfuncIrqs()).filter((r) => r.lfunc === lf.id);
      return indexes.map((i) => rows.find((r) => r.index === i)?.count ?? 0);
    },
  });
  for (const i of indexes) t.is(received[i], rounds, `lfunc ${lf.id} interrupt ${i} (slot ${lf.irqs[i].hwirq}): fired ${rounds}, counted ${received[i]}`);
  t.is(await drv.queueCount(lf.queue) - queueBefore, rounds, `queue ${lf.queue} counted its completions once each`);
}

/** The slot as the device reads it: from its BAR table, or by DMA from the system-memory table. */
async function deviceSlot(bed: Testbed, slot: number): Promise<{ address: bigint; data: number; masked: boolean }> {
  const base = bed.device.ims.sysmemBase;
  if (base === undefined) return bed.device.ims.slot(slot);
  const b = Buffer.from(await bed.device.dmaRead(base + BigInt(slot * IMS_SLOT_SIZE), IMS_SLOT_SIZE));
  return { address: b.readBigUInt64LE(0), data: b.readUInt32LE(8), masked: (b.readUInt32LE(12) & 1) !== 0 };
}

/** sysfs, debugfs and the device agree on every interrupt of every lfunc. */
async function checkViewsAgree(t: ExecutionContext, bed: Testbed, drv: GuestDriver): Promise<Lfunc[]> {
  const lfs = await drv.lfuncs();
  const rows = await drv.lfuncIrqs();
  const queues = await drv.queues();
  t.is(rows.length, lfs.reduce((n, l) => n + l.irqs.length, 0), 'debugfs lists the interrupts sysfs shows');
  for (const lf of lfs) {
    t.is(queues[lf.queue].lfunc, lf.id, `queue ${lf.queue} knows its lfunc ${lf.id}`);
    for (const irq of lf.irqs) {
      const row = rows.find((r) => r.irq === irq.irq);
      if (!row) {
        t.fail(`irq ${irq.irq} of lfunc ${lf.id} is not in debugfs lfuncs`);
        continue;
      }
      t.like(row, { lfunc: lf.id, queue: lf.queue, index: irq.index, mode: irq.mode, hwirq: irq.hwirq });
      t.deepEqual(row.effectiveAffinity, irq.effectiveAffinity, `irq ${irq.irq}: effective affinity`);
      t.true(irq.effectiveAffinity.every((c) => irq.affinity.includes(c)), `irq ${irq.irq}: effective ${irq.effectiveAffinity} within ${irq.affinity}`);
      if (irq.mode !== 'ims') continue;
      const slot = await deviceSlot(bed, irq.hwirq);
      t.is(slot.address, row.address, `slot ${irq.hwirq}: the device holds the address the guest wrote`);
      t.is(slot.data, row.data, `slot ${irq.hwirq}: data`);
      t.false(slot.masked, `slot ${irq.hwirq} unmasked in the device`);
    }
    const r0 = lf.irqs[0];
    t.deepEqual(bed.device.route(lf.queue), { kind: r0.mode, index: r0.hwirq, enabled: true }, `queue ${lf.queue} routed to interrupt 0 of lfunc ${lf.id}`);
  }
  return lfs;
}

/** /proc/interrupts lines without the irq number (a new allocation may get another). */
const withoutIrq = (lines: string[]) => lines.map((l) => l.split(' ').slice(1).join(' ')).sort();

async function slotsLive(drv: GuestDriver): Promise<number> {
  return Number((await drv.info()).raw.ims_slots_live);
}

export function lfuncChecks({ serial, bed: bedOf, drv: drvOf }: GuestCtx): void {
  serial('each queue is a logical function in sysfs; sysfs, debugfs and the device agree on its interrupt', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const lfs = await checkViewsAgree(t, bed, drv);
    t.deepEqual(lfs.map((l) => [l.id, l.queue, l.irqs.length, l.irqs[0].mode]), all.map((q) => [q, q, 1, 'ims']));
    const irqs = lfs.map((l) => l.irqs[0].irq);
    const proc = (await bed.vm.run(`for i in ${irqs.join(' ')}; do cat /proc/irq/$i/effective_affinity_list; done`, { check: true })).stdout.trim().split('\n');
    t.deepEqual(lfs.map((l) => l.irqs[0].effectiveAffinity.join(',')), proc, 'sysfs effective_affinity is what /proc/irq shows');
  });

  serial('logical functions created and destroyed at run time: slots from the allocator, reused after destroy, no irq left behind', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const orig = await irqlabInterrupts(bed);
    await drv.destroyLfunc(5);
    await drv.destroyLfunc(6);
    t.deepEqual((await drv.lfuncs()).map((l) => l.id), [0, 1, 2, 3, 4, 7], 'their sysfs directories are gone');
    for (const q of [5, 6]) t.false(bed.device.route(q).enabled, `queue ${q}'s interrupt is off`);
    for (const s of [5, 6]) t.like(bed.device.ims.slot(s), { address: 0n, data: 0, masked: true }, `slot ${s} cleared and masked`);
    const base = await irqlabInterrupts(bed);
    t.is(await slotsLive(drv), 6);

    for (let cycle = 0; cycle < 2; cycle++) {
      const lf = await drv.createLfunc({ queue: 6, irqs: 3 });
      t.is(lf.id, 5, 'the lowest free id');
      // Slot 7 is lfunc 7's: the allocator hands out the lowest free slots, not the queue's number.
      t.deepEqual(lf.irqs.map((i) => i.hwirq), [5, 6, 8]);
      t.deepEqual(lf.irqs.map((i) => i.mode), ['ims', 'ims', 'ims']);
      await checkViewsAgree(t, bed, drv);
      await fireLfunc(t, bed, drv, lf, 3);
      await drv.destroyLfunc(lf.id);
      t.deepEqual(await irqlabInterrupts(bed), base, `cycle ${cycle}: /proc/interrupts back to its previous lines`);
      t.is(await slotsLive(drv), 6, `cycle ${cycle}: its slots are free again`);
    }

    // Many quick cycles in the guest, four interrupts each.
    const dir = drv.lfuncDir;
    await bed.vm.run(`for i in $(seq 20); do echo 'queue=6 irqs=4' > ${dir}/create && echo 5 > ${dir}/destroy || exit 1; done`, { check: true });
    t.deepEqual(await irqlabInterrupts(bed), base, '20 more cycles: no irq left behind');
    t.is(await slotsLive(drv), 6);

    // Back to the default: lfuncs 5 and 6 on queues 5 and 6, slots 5 and 6.
    for (const q of [5, 6]) t.deepEqual((await drv.createLfunc({ queue: q })).irqs.map((i) => [i.hwirq, i.mode]), [[q, 'ims']]);
    await checkViewsAgree(t, bed, drv);
    t.deepEqual(withoutIrq(await irqlabInterrupts(bed)), withoutIrq(orig), 'the same interrupts as before, by chip, slot and name');
  });

  serial('a second allocation of a live slot is refused (EBUSY), as is a second lfunc on a queue; explicit slots and MSI-X mode; nothing leaks', async (t) => {
    const bed = bedOf();
    const drv = drvOf();
    const before = await irqlabInterrupts(bed);
    const slot7 = bed.device.ims.slot(7);
    await drv.destroyLfunc(5);
    const err = await t.throwsAsync(drv.createLfunc({ queue: 5, slot: 7 }));
    t.regex(err!.message, /busy/i);
    t.like(bed.device.ims.slot(7), slot7, 'slot 7 keeps its owner\'s message, unmasked');
    t.regex((await t.throwsAsync(drv.createLfunc({ queue: 4 })))!.message, /busy/i, 'queue 4 already has an lfunc');
    t.regex((await t.throwsAsync(drv.createLfunc({ queue: 8 })))!.message, /invalid/i, 'queue out of range');
    t.regex((await t.throwsAsync(drv.createLfunc({ queue: 5, irqs: 5 })))!.message, /invalid/i, 'at most 4 interrupts');
    t.regex((await t.throwsAsync(drv.destroyLfunc(5)))!.message, /no such file/i, 'no lfunc 5 to destroy');
    const bad = await bed.vm.run(`echo 'queue=5 slots=3' > ${drv.lfuncDir}/create`);
    t.not(bad.status, 0, 'a misspelt key is an error');
    t.false((await drv.lfuncs()).some((l) => l.queue === 5), 'no lfunc came of the refused requests');
    // An explicit free slot is granted.
    const lf = await drv.createLfunc({ queue: 5, slot: 9 });
    t.deepEqual(lf.irqs.map((i) => i.hwirq), [9]);
    await fireLfunc(t, bed, drv, lf, 2);
    await drv.destroyLfunc(lf.id);
    // Interrupt 0 on the queue's MSI-X vector instead: no slot taken.
    t.regex((await t.throwsAsync(drv.createLfunc({ queue: 5, mode: 'msix', slot: 9 })))!.message, /invalid/i, 'a slot needs mode ims');
    const live = await slotsLive(drv);
    const msix = await drv.createLfunc({ queue: 5, mode: 'msix' });
    t.deepEqual(msix.irqs.map((i) => [i.mode, i.hwirq]), [['msix', 5]]);
    t.is(await slotsLive(drv), live);
    await checkViewsAgree(t, bed, drv);
    await fireLfunc(t, bed, drv, msix, 2);
    await drv.destroyLfunc(msix.id);
    await drv.createLfunc({ queue: 5 });
    t.deepEqual(withoutIrq(await irqlabInterrupts(bed)), withoutIrq(before));
  });
}

/** System-memory storage: the same library, lfuncs created and destroyed, slots read by the device's DMA. */
export async function sysmemLfuncCycle(t: ExecutionContext, bed: Testbed, drv: GuestDriver): Promise<void> {
  await drv.destroyLfunc(3);
  const lf = await drv.createLfunc({ queue: 3, irqs: 2 });
  t.deepEqual(lf.irqs.map((i) => i.hwirq), [3, 8]);
  await checkViewsAgree(t, bed, drv);
  await fireLfunc(t, bed, drv, lf, 3);
  await drv.destroyLfunc(lf.id);
  for (const s of [3, 8]) t.like(await deviceSlot(bed, s), { address: 0n, data: 0, masked: true }, `slot ${s} cleared and masked in system memory`);
  t.deepEqual((await drv.createLfunc({ queue: 3 })).irqs.map((i) => i.hwirq), [3], 'slot 3 reused');
}
