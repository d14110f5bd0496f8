// The kernel's own view of every interrupt the module built (issue 12): on a
// kernel with GENERIC_IRQ_DEBUGFS, /sys/kernel/debug/irq/irqs/N names each
// hierarchy level's domain and hwirq in the kernel's own words. The module's
// `hierarchy` dump must say the same for every MSI-X vector and every IMS
// interrupt: same domains, same order, same hwirq at each level.
import { hasIrqDebugfs, readKernelIrq } from '../../src/guest/irq-debugfs.ts';
import type { GuestCtx } from './helpers.ts';

export function kernelViewChecks({ serial, bed, drv, cfg }: Pick<GuestCtx, 'serial' | 'bed' | 'drv' | 'cfg'>): void {
  serial('the module\'s hierarchy dump matches the kernel\'s irq debugfs for every MSI-X vector and IMS interrupt', async (t) => {
    t.true(await hasIrqDebugfs(bed().vm), `${cfg.kernel} has /sys/kernel/debug/irq (GENERIC_IRQ_DEBUGFS)`);
    const rows = await drv().hierarchy();
    t.true(rows.some((r) => r.name.startsWith('msix')) && rows.some((r) => r.name.startsWith('lfunc')), 'MSI-X and IMS rows');
    for (const row of rows) {
      const kernel = await readKernelIrq(bed().vm, row.irq);
      t.deepEqual(
        row.levels,
        kernel.levels.map(({ domain, hwirq }) => ({ domain, hwirq })),
        `${row.name} (irq ${row.irq}): module says ${row.chain.join(' > ')}, kernel says ${kernel.levels.map((l) => l.domain).join(' > ')}`,
      );
      t.is(kernel.levels.at(-1)?.domain, 'VECTOR', `${row.name}: the chain ends at the vector domain`);
    }
  });
}
