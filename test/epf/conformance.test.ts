// The PCI conformance suite (test/pci/conformance.ts) against `irqlab serve`
// with pci-epf-test: the endpoint test function is a PCI function like any
// other. The suite binds every MSI-X vector in one message, so the table is
// cut to 16 entries (epf-16-vectors.ts); the built-in name is served too.
import test from 'ava';
import { spawnServe, type Served } from '../helpers/spawn-serve.ts';
import { pciConformance, type Subject } from '../pci/conformance.ts';
import { Reg, Command, IrqType } from '../../src/devices/pci-epf-test.ts';

let served: Served;
test.before(async () => {
  served = await spawnServe(new URL('./epf-16-vectors.ts', import.meta.url).pathname);
});
test.after.always(async () => {
  await served?.stop();
});

test('irqlab serve pci-epf-test serves the built-in device (16c3:edda, 2048 MSI-X vectors)', async (t) => {
  const s = await spawnServe('pci-epf-test');
  t.teardown(() => s.stop());
  const { VfioUserClient } = await import('../../src/client/index.ts');
  const c = await VfioUserClient.connect(s.socket);
  t.teardown(() => c.close());
  t.is(await c.configRead32(0), 0xedda16c3);
  const { walkCaps } = await import('../pci/conformance.ts');
  const msix = (await walkCaps(c)).get(0x11)!;
  t.is(((await c.read16(7, msix + 2)) & 0x7ff) + 1, 2048);
});

pciConformance('pci-epf-test', (): Subject => ({
  name: 'pci-epf-test',
  socket: served.socket,
  scratch: { bar: 0, offset: Reg.MAGIC },
  // The host driver's way: IRQ_TYPE, IRQ_NUMBER (1-based), then COMMAND.
  async fireMsix(c, v) {
    await c.write32(0, Reg.IRQ_TYPE, IrqType.MSIX);
    await c.write32(0, Reg.IRQ_NUMBER, v + 1);
    await c.write32(0, Reg.COMMAND, Command.RAISE_MSIX_IRQ);
  },
}));
