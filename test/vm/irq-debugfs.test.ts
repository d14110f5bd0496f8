// Parsing the kernel's own description of an interrupt (irq debugfs).
import test from 'ava';
import { parseKernelIrq } from '../../src/guest/irq-debugfs.ts';

// The layout kernel/irq/debugfs.c prints for an IMS irq stacked on interrupt
// remapping (levels indented one more space per parent).
const IMS_ON_IR = `handler:  handle_edge_irq
device:   0000:00:03.0
status:   0x00004000
istate:   0x00000000
ddepth:   0
wdepth:   0
dstate:   0x13400200
            IRQD_ACTIVATED
            IRQD_IRQ_STARTED
node:     0
affinity: 0-1
effectiv: 1
pending:  
domain:  irqlab-ims-0000:00:03.0
 hwirq:   0x3
 chip:    irqlab-ims
  flags:   0x10
             IRQCHIP_SKIP_SET_WAKE
 parent:
    domain:  INTEL-IR-0-15
     hwirq:   0x5
     chip:    INTEL-IR
      flags:   0x0
     parent:
        domain:  VECTOR
         hwirq:   0x2d
         chip:    APIC
          flags:   0x0
         Vector:    36
         Target:     1
`;

test('an irq on three levels: its own domain, the remapping domain, VECTOR, with hwirq and chip', (t) => {
  const v = parseKernelIrq(45, IMS_ON_IR);
  t.is(v.handler, 'handle_edge_irq');
  t.is(v.device, '0000:00:03.0');
  t.is(v.affinity, '0-1');
  t.is(v.effective, '1');
  t.deepEqual(v.levels, [
    { domain: 'irqlab-ims-0000:00:03.0', hwirq: 3, chip: 'irqlab-ims' },
    { domain: 'INTEL-IR-0-15', hwirq: 5, chip: 'INTEL-IR' },
    { domain: 'VECTOR', hwirq: 0x2d, chip: 'APIC' },
  ]);
});

test('an irq without a device or parent levels', (t) => {
  const v = parseKernelIrq(9, 'handler:  handle_fasteoi_irq\ndevice:   (null)\naffinity: 0\neffectiv: 0\ndomain:  IO-APIC-0\n hwirq:   0x9\n chip:    IO-APIC\n');
  t.is(v.device, undefined);
  t.deepEqual(v.levels, [{ domain: 'IO-APIC-0', hwirq: 9, chip: 'IO-APIC' }]);
});
