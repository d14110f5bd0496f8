// The generic guest driver's view: its parsers on the texts irqlab_generic.ko
// writes (formats in qemu/guest-generic/generic_debugfs.c); no guest needed.
import test from 'ava';
import { parseGenericInfo, parseGenericIrqs, parsePoke } from '../../src/guest/generic.ts';
import { GuestDriverError } from '../../src/guest/driver.ts';

test('info: ids, mode, vectors enabled and offered, BARs (an unmapped one marked)', (t) => {
  const info = parseGenericInfo('device f1ab:0002\nmode msix\nvectors 4\noffered 4\nbar0 mem 0xfebf1000 4096\nbar2 io 0xc000 64 unmapped\n');
  t.deepEqual(info, {
    vendor: 0xf1ab, device: 0x0002, mode: 'msix', vectors: 4, offered: 4,
    bars: [{ bar: 0, kind: 'mem', start: 0xfebf1000n, size: 4096, mapped: true }, { bar: 2, kind: 'io', start: 0xc000n, size: 64, mapped: false }],
  });
  t.like(parseGenericInfo('device 1234:abcd\nmode msi\nvectors 1\noffered 4\n'), { mode: 'msi', vectors: 1, offered: 4, bars: [] });
  t.throws(() => parseGenericInfo('device f1ab:0002\nmode msix\nvectors 4\nfrobs 2\n'), { instanceOf: GuestDriverError, message: /cannot parse "frobs 2"/ });
  t.throws(() => parseGenericInfo('mode msix\n'), { message: /incomplete/ });
});

test('irqs: one row per vector under its header', (t) => {
  t.deepEqual(parseGenericIrqs('vector irq count\n0 26 5\n1 27 0\n'), [{ vector: 0, irq: 26, count: 5 }, { vector: 1, irq: 27, count: 0 }]);
  t.deepEqual(parseGenericIrqs('vector irq count\n'), []);
  t.throws(() => parseGenericIrqs('0 26 5\n'), { message: /expected the header "vector irq count"/ });
  t.throws(() => parseGenericIrqs('vector irq count\n0 26 x\n'), { message: /cannot parse "0 26 x"/ });
});

test('poke: the last access, read or written, with its value as wide as the access', (t) => {
  t.deepEqual(parsePoke('bar 0 offset 0x0 width 4 value 0x434e5452 read\n'), { bar: 0, offset: 0, width: 4, value: 0x434e5452n, op: 'read' });
  t.deepEqual(parsePoke('bar 2 offset 0x18 width 8 value 0xffffffffffffffff written'), { bar: 2, offset: 0x18, width: 8, value: 0xffffffffffffffffn, op: 'written' });
  t.throws(() => parsePoke('no access yet: write "BAR OFFSET WIDTH [VALUE]"'), { message: /cannot parse/ });
});
