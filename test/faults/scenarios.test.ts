// The fault scenarios of examples/faults/, end to end: a real guest sees each
// fault. Scenarios that leave the guest working share one boot; the ones that
// take the device away (disconnect, late reply, AER, surprise removal) get
// their own. The shared guest runs the debug build of 6.12 with interrupt
// remapping (lockdep and the atomic-sleep checks watch every fault's effect);
// the ones alone run Debian's own 6.12.
import test, { type ExecutionContext } from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { eventually } from '../helpers/eventually.ts';
import { loadScenario, runInTestbed, runScenarioFile } from '../../src/scenario/scenario.ts';

const dir = new URL('../../examples/faults/', import.meta.url).pathname;
const shared = ['drop-ims', 'duplicate-ims', 'spurious', 'ignore-mask', 'delay', 'stuck-pending', 'misroute', 'register-all-ones'];
const alone = ['disconnect', 'late-reply', 'aer', 'surprise-removal'];

const SHARED = { kernel: '6.12-debug', iommu: true, cmdline: 'iommu=pt' } as const;
const sharedLabel = `shared ${SHARED.kernel} guest with a vIOMMU`;

let bed: Testbed;
test.before(async () => {
  bed = await Testbed.start({ ...SHARED, cpus: 2 });
});
test.after.always(async () => {
  await bed?.stop();
});

/** A scenario's driver misused nothing: the device saw no guest error. */
function noGuestErrors(t: ExecutionContext, device: Testbed['device']): void {
  const g = device.clearGuestErrors();
  t.deepEqual(g.counts, {}, `guest errors:\n${g.recent.map((r) => `  ${r.kind}: ${r.message}`).join('\n')}`);
}

for (const name of shared) {
  test.serial(`fault scenario ${name} (${sharedLabel})`, async (t) => {
    const mod = await loadScenario(`${dir}${name}.ts`);
    // The scenario asserts what it shows, then the kernel log is checked: either throws.
    await t.notThrowsAsync(runInTestbed(mod, bed, (l) => t.log(l)), mod.description);
    noGuestErrors(t, bed.device);
  });
}

// One at a time: four guests booting at once beside the shared one (and the
// other test worker's) starved a vCPU long enough for an RCU stall report.
for (const name of alone) {
  test.serial(`fault scenario ${name} (own 6.12 guest)`, async (t) => {
    await t.notThrowsAsync(runScenarioFile(`${dir}${name}.ts`, { kernel: '6.12' }, (l) => t.log(l)));
  });
}

test.serial(`the control socket drives the same faults as a script does (${sharedLabel})`, async (t) => {
  const { ControlServer } = await import('../../src/control/server.ts');
  const { ControlClient } = await import('../../src/control/client.ts');
  const path = `${bed.vm.tempDir}/control.sock`;
  const cs = await ControlServer.listen(path, { device: bed.device, server: bed.server });
  const ctl = await ControlClient.connect(path);
  t.teardown(async () => {
    ctl.close();
    await cs.close();
    bed.device.faults.clear();
  });
  const drv = bed.driver!;
  const K = 4;
  await ctl.addFault({ on: 'irq', kind: 'ims', index: 0, action: 'drop', skip: 1, count: 1 });
  const before = await drv.queueCount(0);
  const outcomes: string[] = [];
  for (let i = 0; i < K; i++) {
    const [outcome] = await ctl.complete(0, 1);
    outcomes.push(outcome);
    // One at a time, each waited for (the guest's APIC merges back-to-back interrupts).
    const expected = before + outcomes.filter((o) => o === 'delivered').length;
    await eventually(`completion ${i + 1} in the guest`, async () => (await drv.queueCount(0)) === expected, { timeoutMs: 8000, intervalMs: 20 });
  }
  t.deepEqual(outcomes, ['delivered', 'dropped', 'delivered', 'delivered'], 'the second of K dropped, as with the drop-ims scenario');
  t.is((await drv.queueCount(0)) - before, K - 1);
  const stats = (await ctl.stats()) as { irqs: Record<string, number>; guestErrors: { total: number } };
  t.is(stats.irqs['ims:0:dropped'], 1);
  t.is(stats.guestErrors.total, 0, 'stats carry the guest errors: none');
});
