import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLab, labFile, LabError, loadLab, resolveKernel } from '../../src/vm/lab.ts';

const dir = mkdtempSync(join(tmpdir(), 'irqlab-labtest-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function fakeLab(): Record<string, unknown> {
  const f = (name: string): string => {
    const p = join(dir, name);
    writeFileSync(p, '');
    return p;
  };
  mkdirSync(join(dir, 'modules'), { recursive: true });
  const kernel = {
    release: '6.12.57+deb13-amd64',
    vmlinuz: f('vmlinuz'),
    config: f('config'),
    systemMap: f('System.map'),
    modules: join(dir, 'modules'),
  };
  return {
    version: 1,
    qemu: { bin: f('qemu'), version: '11.1.3' },
    kernels: { '6.12': kernel },
    busybox: f('busybox'),
    initramfs: { builder: f('build.sh') },
    sources: { '6.12': { version: '6.12.57-1', path: dir } },
    endpoint: {
      modules: { '6.12': f('pci_endpoint_test.ko') },
      pcitest: f('pcitest'),
      pcitestScript: f('pcitest.sh'),
      kselftest: f('pci_endpoint_test'),
    },
  };
}

test('IRQLAB_HOME, else XDG_CACHE_HOME/irqlab, else ~/.cache/irqlab', (t) => {
  t.is(labFile({ IRQLAB_HOME: '/x' }), '/x/lab.json');
  t.is(labFile({ XDG_CACHE_HOME: '/c' }), '/c/irqlab/lab.json');
  t.regex(labFile({}), /\/\.cache\/irqlab\/lab\.json$/);
});

test('a missing lab.json names make setup', (t) => {
  const err = t.throws(() => loadLab(join(dir, 'nope.json')), { instanceOf: LabError });
  t.regex(err!.message, /make setup/);
});

test('a valid lab.json is accepted', (t) => {
  const lab = checkLab(fakeLab(), 'lab.json');
  t.is(lab.kernels['6.12']!.release, '6.12.57+deb13-amd64');
  t.is(lab.qemu.version, '11.1.3');
});

test('every problem is listed, with the path that is missing', (t) => {
  const json = fakeLab();
  (json.qemu as Record<string, unknown>).bin = '/does/not/exist';
  delete json.busybox;
  const err = t.throws(() => checkLab(json, 'lab.json'), { instanceOf: LabError });
  t.regex(err!.message, /qemu\.bin names \/does\/not\/exist, which does not exist/);
  t.regex(err!.message, /busybox must be a non-empty string/);
  t.regex(err!.message, /make setup/);
});

test('the endpoint test tools are checked, with a module for every kernel', (t) => {
  const lab = checkLab(fakeLab(), 'lab.json');
  t.is(lab.endpoint.modules['6.12'], join(dir, 'pci_endpoint_test.ko'));
  t.is(lab.sources['6.12']!.version, '6.12.57-1');
  const json = fakeLab();
  (json.endpoint as { modules: Record<string, string> }).modules = {};
  delete (json.endpoint as Record<string, unknown>).kselftest;
  const err = t.throws(() => checkLab(json, 'lab.json'), { instanceOf: LabError });
  t.regex(err!.message, /endpoint\.modules has no pci_endpoint_test\.ko for kernel 6\.12/);
  t.regex(err!.message, /endpoint\.kselftest must be a non-empty string/);
});

test('a kernel is a lab key or the path of a bzImage', (t) => {
  const lab = checkLab(fakeLab(), 'lab.json');
  t.like(resolveKernel(lab, '6.12'), { name: '6.12', release: '6.12.57+deb13-amd64' });
  const byPath = resolveKernel(lab, join(dir, 'vmlinuz'));
  t.is(byPath.vmlinuz, join(dir, 'vmlinuz'));
  t.is(byPath.modules, undefined);
  t.throws(() => resolveKernel(lab, '5.10'), { message: /unknown kernel '5\.10': the lab has 6\.12/ });
  t.throws(() => resolveKernel(lab, '/no/bzImage'), { message: /does not exist/ });
});
