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
