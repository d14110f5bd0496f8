// Modules of a lab kernel by name: found through the kernel's modules.dep with
// everything they need, laid out for modprobe; no guest needed.
import test from 'ava';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveKernelModules, isModuleName, moduleName } from '../../src/vm/kernel-modules.ts';
import type { ResolvedKernel } from '../../src/vm/lab.ts';

function kernelTree(t: { teardown(fn: () => void): void }): ResolvedKernel {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-kmods-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'modules.dep'), [
    'kernel/drivers/uio/uio_pci_generic.ko.xz: kernel/drivers/uio/uio.ko.xz',
    'kernel/drivers/uio/uio.ko.xz:',
    'kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/pci/vfio-pci-core.ko.xz kernel/drivers/vfio/vfio.ko.xz kernel/virt/lib/irqbypass.ko.xz',
    'kernel/drivers/vfio/pci/vfio-pci-core.ko.xz: kernel/drivers/vfio/vfio.ko.xz kernel/virt/lib/irqbypass.ko.xz',
    'kernel/drivers/vfio/vfio.ko.xz:',
    'kernel/virt/lib/irqbypass.ko.xz:',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'modules.builtin'), 'kernel/drivers/pci/pcieport.ko\n');
  mkdirSync(join(dir, 'kernel'));
  return { name: '6.12', vmlinuz: '/vmlinuz', release: '6.12.0-test', modules: dir };
}

test('a name brings its module and every module it depends on, and a modules.dep of just those', (t) => {
  const k = kernelTree(t);
  const set = resolveKernelModules(k, ['vfio-pci', 'uio_pci_generic']);
  t.deepEqual(set.names, ['vfio_pci', 'uio_pci_generic']);
  const root = '/lib/modules/6.12.0-test';
  t.deepEqual([...set.files.keys()].sort(), [
    'kernel/drivers/uio/uio.ko.xz', 'kernel/drivers/uio/uio_pci_generic.ko.xz', 'kernel/drivers/vfio/pci/vfio-pci-core.ko.xz',
    'kernel/drivers/vfio/pci/vfio-pci.ko.xz', 'kernel/drivers/vfio/vfio.ko.xz', 'kernel/virt/lib/irqbypass.ko.xz',
  ].map((p) => `${root}/${p}`));
  t.is(set.files.get(`${root}/kernel/drivers/uio/uio.ko.xz`), join(k.modules!, 'kernel/drivers/uio/uio.ko.xz'));
  const dep = set.texts.get(`${root}/modules.dep`)!;
  t.regex(dep, /^kernel\/drivers\/vfio\/pci\/vfio-pci\.ko\.xz: kernel\/drivers\/vfio\/pci\/vfio-pci-core\.ko\.xz /m);
  t.is(dep.trim().split('\n').length, 6, 'each module once');
});

test('a misspelt, built-in or unknown module is refused with what to do; a bzImage has no modules by name', (t) => {
  const k = kernelTree(t);
  t.throws(() => resolveKernelModules(k, ['uio_pci_genric']), { message: /no module uio_pci_genric in 6\.12's modules \(6\.12\.0-test\) \(did you mean "uio_pci_generic"\?\)/ });
  t.throws(() => resolveKernelModules(k, ['pcieport']), { message: /module pcieport is built into 6\.12 .*nothing to load/ });
  t.throws(() => resolveKernelModules({ name: '/x/bzImage', vmlinuz: '/x/bzImage' }, ['uio']), { message: /come from a lab kernel's modules tree; \/x\/bzImage has none: give the \.ko files instead/ });
  t.deepEqual(resolveKernelModules({ name: '/x/bzImage', vmlinuz: '/x/bzImage' }, []).names, []);
});

test('what counts as a module name on the command line', (t) => {
  t.true(isModuleName('vfio-pci'));
  t.true(isModuleName('uio_pci_generic'));
  t.false(isModuleName('./my.ko'));
  t.false(isModuleName('my_driver.ko'));
  t.is(moduleName('kernel/drivers/vfio/pci/vfio-pci.ko.xz'), 'vfio_pci');
});
