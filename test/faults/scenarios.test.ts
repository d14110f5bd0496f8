// The fault scenarios of examples/faults/, end to end: a real guest sees each
// fault. Scenarios that leave the guest working share one boot; the ones that
// take the device away (disconnect, late reply, AER, surprise removal) get
// their own.
import test from 'ava';
import { Testbed } from '../../src/lab/testbed.ts';
import { loadScenario, runInTestbed, runScenarioFile } from '../../src/scenario/scenario.ts';

const dir = new URL('../../examples/faults/', import.meta.url).pathname;
const shared = ['drop-ims', 'duplicate-ims', 'spurious', 'ignore-mask', 'delay', 'stuck-pending', 'misroute', 'register-all-ones'];
const alone = ['disconnect', 'late-reply', 'aer', 'surprise-removal'];

let bed: Testbed;
test.before(async () => {
  bed = await Testbed.start({ kernel: '6.12', cpus: 2 });
});
test.after.always(async () => {
  await bed?.stop();
});

for (const name of shared) {
  test.serial(`fault scenario ${name} (shared 6.12 guest)`, async (t) => {
    const mod = await loadScenario(`${dir}${name}.ts`);
    await runInTestbed(mod, bed, (l) => t.log(l));
    t.pass(mod.description);
  });
}

for (const name of alone) {
  test(`fault scenario ${name} (own 6.12 guest)`, async (t) => {
    await runScenarioFile(`${dir}${name}.ts`, { kernel: '6.12' }, (l) => t.log(l));
    t.pass();
  });
}

test.serial('the control socket drives the same faults as a script does (shared 6.12 guest)', async (t) => {
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
  for (let i = 0; i < K; i++) {
    await ctl.complete(0, 1);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
  t.is((await drv.queueCount(0)) - before, K - 1, 'one of K dropped, as with the drop-ims scenario');
  const stats = (await ctl.stats()) as { irqs: Record<string, number> };
  t.true(stats.irqs['ims:0:dropped'] >= 1);
});
