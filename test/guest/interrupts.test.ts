// The guest views that need no guest to test: /proc/interrupts and
// /proc/cpuinfo as the kernel writes them.
import test from 'ava';
import { parseInterrupts, countsByName, InterruptsParseError } from '../../src/guest/interrupts.ts';
import { parseApicIds } from '../../src/guest/cpus.ts';

const PROC = `           CPU0       CPU1
  1:          9          0   IO-APIC   1-edge      i8042
 27:          5          3   IR-PCI-MSIX-0000:00:04.0   0-edge      counter_drv-0000:00:04.0-0
 28:          0         12   IR-PCI-MSIX-0000:00:04.0   1-edge      counter_drv-0000:00:04.0-1
 35:          2          0   irqlab-ims-0000:00:02.0   0-edge      irqlab-lf0.0
NMI:          0          0   Non-maskable interrupts
ERR:          0
`;

test('/proc/interrupts: numbered lines with per-CPU counts, chip, hwirq and name; architecture rows skipped', (t) => {
  const lines = parseInterrupts(PROC);
  t.deepEqual(lines.map((l) => l.irq), [1, 27, 28, 35]);
  t.like(lines[1], { perCpu: [5, 3], cpus: ['CPU0', 'CPU1'], total: 8, chip: 'IR-PCI-MSIX-0000:00:04.0', hwirq: '0-edge', name: 'counter_drv-0000:00:04.0-0' });
  t.deepEqual(countsByName(lines, 'counter_drv-0000:00:04.0-', 2), [8, 12]);
  t.throws(() => countsByName(lines, 'counter_drv-0000:00:04.0-', 3), { message: /no interrupt named counter_drv-0000:00:04\.0-2/ });
});

test('/proc/interrupts after CPU1 went offline: its column is gone', (t) => {
  const [l] = parseInterrupts('           CPU0\n 35:          7   irqlab-ims-0000:00:02.0   0-edge      irqlab-lf0.0\n');
  t.deepEqual([l.cpus, l.perCpu, l.total], [['CPU0'], [7], 7]);
});

test('malformed /proc/interrupts is an error, not zeros', (t) => {
  t.throws(() => parseInterrupts('no header\n'), { instanceOf: InterruptsParseError });
  t.throws(() => parseInterrupts('  CPU0 CPU1\n 35: 7 x irqlab\n'), { message: /cannot parse/ });
});

test('/proc/cpuinfo: each online CPU\'s APIC id', (t) => {
  const info = 'processor\t: 0\nvendor_id\t: AuthenticAMD\napicid\t\t: 0\ninitial apicid\t: 0\n\nprocessor\t: 1\napicid\t\t: 1\ninitial apicid\t: 1\n\n';
  t.deepEqual([...parseApicIds(info)], [[0, 0], [1, 1]]);
});
