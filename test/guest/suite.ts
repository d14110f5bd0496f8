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
import { eventually, type GuestConfig, type GuestCtx } from './helpers.ts';
import { imsChecks } from './ims.ts';
import { lfuncChecks } from './lfunc.ts';
import { kernelViewChecks } from './kernel-view.ts';

export type { GuestConfig } from './helpers.ts';

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

  // Every check ends with the kernel-log watchdog (a splat fails the check
  // that caused it) and with the device's guest errors: the driver misused
  // nothing. A check that provokes one on purpose asserts it and clears it.
  const serial = (name: string, fn: (t: ExecutionContext) => Promise<void>) => test.serial(`${label}: ${name}`, async (t) => {
    await fn(t);
    await bed.vm.kernelLog.check();
    const g = bed.device.clearGuestErrors();
    t.deepEqual(g.counts, {}, `guest errors:\n${g.recent.map((r) => `  ${r.kind}: ${r.message}`).join('\n')}`);
  });

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
    const sent = () => bed.device.counters.get('msix', 3, 'delivered');
    const sentBefore = sent();
    await drv.ctl('mask msix 3');
    t.true((await drv.msix())[3].masked, 'the guest sees the vector masked');
    bed.device.fireMsix(3);
    if (cfg.dmaTranslation) {
      // The device cannot read QEMU's table through the IOMMU: it sends, and QEMU holds the vector.
      await eventually('the vector on its way to QEMU', async () => sent() === sentBefore + 1);
      // Nothing to wait for: give a wrong delivery time to show before saying there was none.
      await new Promise((r) => setTimeout(r, 300));
    } else {
      await eventually('the PBA bit as the guest reads it', async () => (await drv.msix())[3].pending === true);
      t.is(sent(), sentBefore, 'the device held it: nothing sent while masked');
    }
    t.is(await drv.vectorCount(3), before, 'nothing delivered while masked');
    await drv.ctl('unmask msix 3');
    await eventually('delivery on unmask', async () => (await drv.vectorCount(3)) === before + 1);
    t.is(sent(), sentBefore + 1, 'sent exactly once');
    t.is(await drv.vectorCount(3), before + 1, 'delivered exactly once');
    t.false((await drv.msix())[3].pending, 'pending bit cleared');
  });

  serial('bus mastering off: nothing is delivered; back on: delivery resumes', async (t) => {
    const before = await counts('msix');
    const blocked = bed.device.counters.get('msix', 0, 'blocked');
    await drv.ctl('busmaster 0');
    t.deepEqual([bed.device.fireMsix(0), bed.device.fireMsix(1)], ['blocked', 'blocked'], 'the device could not send');
    t.deepEqual(await counts('msix'), before, 'nothing was sent, so nothing is counted');
    t.is(bed.device.counters.get('msix', 0, 'blocked'), blocked + 1);
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

  // ---- issue 5: IMS; issue 16: logical functions -------------------------------------

  const ctx: GuestCtx = { serial, bed: () => bed, drv: () => drv, fireRounds, cfg };
  imsChecks(ctx);
  lfuncChecks(ctx);
  // Debug kernels have irq debugfs: the kernel's own words for every chain.
  if (cfg.kernel.endsWith('-debug')) kernelViewChecks(ctx);
}
