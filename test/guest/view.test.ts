// The driver view's parsers on the texts the guest module writes (formats in
// qemu/guest/irqlab_lfunc_sysfs.c and irqlab_debugfs.c); no guest needed.
import test from 'ava';
import { parseCpuList, parseLfuncSysfs, parseLfuncRows, createLine, LfuncViewError } from '../../src/guest/lfunc.ts';
import { parseHierarchy, parseQueues, GuestDriverError } from '../../src/guest/driver.ts';

const dir = '/sys/bus/pci/devices/0000:00:02.0/lfunc';
const sysfs = (lines: string[]) => lines.map((l) => `${dir}/${l}`).join('\n');
const irqFiles = (id: number, irq: number, index: number, mode: string, hwirq: number, eff: string) => [
  `${id}/irqs/${irq}/effective_affinity:${eff}`, `${id}/irqs/${irq}/mode:${mode}`, `${id}/irqs/${irq}/hwirq:${hwirq}`,
  `${id}/irqs/${irq}/index:${index}`, `${id}/irqs/${irq}/affinity:0-1`,
];

test('a CPU list becomes the CPUs it names', (t) => {
  t.deepEqual(parseCpuList('0-2,5\n'), [0, 1, 2, 5]);
  t.deepEqual(parseCpuList('1'), [1]);
  t.deepEqual(parseCpuList(''), []);
  t.throws(() => parseCpuList('0-x'), { instanceOf: LfuncViewError });
});

test('the sysfs lfunc view: lfuncs by id, their interrupts by index, in grep -r order', (t) => {
  const text = sysfs([
    ...irqFiles(3, 42, 1, 'ims', 8, '0'), '3/queue:6', ...irqFiles(3, 37, 0, 'ims', 5, '1'),
    '0/queue:0', ...irqFiles(0, 30, 0, 'msix', 0, '0'),
  ]);
  t.deepEqual(parseLfuncSysfs(text, dir), [
    { id: 0, queue: 0, irqs: [{ irq: 30, index: 0, mode: 'msix', hwirq: 0, affinity: [0, 1], effectiveAffinity: [0] }] },
    { id: 3, queue: 6, irqs: [
      { irq: 37, index: 0, mode: 'ims', hwirq: 5, affinity: [0, 1], effectiveAffinity: [1] },
      { irq: 42, index: 1, mode: 'ims', hwirq: 8, affinity: [0, 1], effectiveAffinity: [0] },
    ] },
  ]);
  t.deepEqual(parseLfuncSysfs('', dir), [], 'no lfuncs');
});

test('the sysfs lfunc view refuses what the module does not write', (t) => {
  const ok = ['1/queue:1', ...irqFiles(1, 35, 0, 'ims', 1, '1')];
  t.throws(() => parseLfuncSysfs(sysfs(ok.filter((l) => !l.endsWith('/queue:1'))), dir), { message: /queue is missing/ });
  t.throws(() => parseLfuncSysfs(sysfs(ok.filter((l) => !l.includes('/mode:'))), dir), { message: /mode is missing/ });
  t.throws(() => parseLfuncSysfs(sysfs(ok.map((l) => l.replace('mode:ims', 'mode:msi'))), dir), { message: /neither ims nor msix/ });
  t.throws(() => parseLfuncSysfs(sysfs([...ok, '1/irqs/35/colour:red']), dir), { message: /unexpected file/ });
  t.throws(() => parseLfuncSysfs(sysfs(ok.map((l) => l.replace('index:0', 'index:2'))), dir), { message: /not 0\.\.0/ });
  t.throws(() => parseLfuncSysfs('/elsewhere/1/queue:1', dir), { message: /unexpected line/ });
});

test('debugfs lfuncs and queues lines', (t) => {
  const rows = parseLfuncRows('lfunc queue index irq mode hwirq addr data masked count effective_affinity\n3 6 0 48 ims 5 0x00000000fee01000 0x00000023 0 5 1\n');
  t.deepEqual(rows, [{ lfunc: 3, queue: 6, index: 0, irq: 48, mode: 'ims', hwirq: 5, address: 0xfee01000n, data: 0x23, masked: false, count: 5, effectiveAffinity: [1] }]);
  t.throws(() => parseLfuncRows('lfunc queue index irq\n'), { instanceOf: LfuncViewError });
  t.throws(() => parseLfuncRows('lfunc queue index irq mode hwirq addr data masked count effective_affinity\n3 6 0\n'), { message: /cannot parse/ });
  const q = parseQueues('queue irq route index addr data count lfunc\n0 34 ims 0 0x00000000fee00000 0x00000027 4 0\n1 0 none 0 0x0000000000000000 0x00000000 0 -\n');
  t.deepEqual(q.map((r) => [r.queue, r.route, r.lfunc]), [[0, 'ims', 0], [1, 'none', undefined]]);
});

test('debugfs hierarchy: each level with its hwirq', (t) => {
  const [row] = parseHierarchy('lfunc0.0 irq 45: irqlab-ims-0000:00:03.0(hwirq 0x3) > INTEL-IR-0-15(hwirq 0x5) > VECTOR(hwirq 0x2d)\n');
  t.deepEqual(row, {
    name: 'lfunc0.0', irq: 45, chain: ['irqlab-ims-0000:00:03.0', 'INTEL-IR-0-15', 'VECTOR'],
    levels: [{ domain: 'irqlab-ims-0000:00:03.0', hwirq: 3 }, { domain: 'INTEL-IR-0-15', hwirq: 5 }, { domain: 'VECTOR', hwirq: 0x2d }],
  });
  t.throws(() => parseHierarchy('msix0 irq 40: PCI-MSIX-0000:00:03.0-12 > VECTOR\n'), { instanceOf: GuestDriverError });
});

test('a create line names only what is given', (t) => {
  t.is(createLine({ queue: 3 }), 'queue=3');
  t.is(createLine({ queue: 3, irqs: 2, mode: 'ims', slot: 9 }), 'queue=3 irqs=2 mode=ims slot=9');
});
