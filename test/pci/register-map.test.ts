import test from 'ava';
import { RegisterMap } from '../../src/device/register-map.ts';
import { ConfigSpace } from '../../src/pci/config-space.ts';

const le = (v: number, n = 4) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (v >>> (8 * i)) & 0xff;
  return b;
};
const num = (b: Uint8Array) => b.reduce((v, x, i) => v + x * 2 ** (8 * i), 0);

function map(rules?: ConstructorParameters<typeof RegisterMap>[0]['access']) {
  const writes: [string, number | bigint][] = [];
  const errors: string[] = [];
  const m = new RegisterMap({
    size: 0x40,
    access: rules,
    registers: [
      { name: 'RO', offset: 0x0, access: 'RO', reset: 0x11223344 },
      { name: 'RW', offset: 0x4, mask: 0x00ff00ff, reset: 0x0 },
      { name: 'W1C', offset: 0x8, access: 'W1C', reset: 0xf0 },
      { name: 'WO', offset: 0xc, access: 'WO', write: (v) => writes.push(['WO', v]) },
      { name: 'B', offset: 0x10, width: 1, write: (v) => writes.push(['B', v]) },
      { name: 'Q', offset: 0x18, width: 8, reset: 0x1_0000_0002n },
      { name: 'ARR', offset: 0x20, count: 4, stride: 4, write: (v, i) => writes.push([`ARR${i}`, v]) },
    ],
  });
  m.guestError = (kind, e) => errors.push(`${kind}: ${e}`);
  return { m, writes, errors };
}

test('RO ignores writes; RW honours its mask; W1C clears written ones; WO reads 0 and hands the value to its hook', (t) => {
  const { m, writes } = map();
  m.write(0x0, le(0xffffffff));
  t.is(num(m.read(0x0, 4)), 0x11223344);
  m.write(0x4, le(0xffffffff));
  t.is(num(m.read(0x4, 4)), 0x00ff00ff);
  m.write(0x8, le(0x30));
  t.is(num(m.read(0x8, 4)), 0xc0);
  m.write(0xc, le(0x1234));
  t.is(num(m.read(0xc, 4)), 0);
  t.deepEqual(writes, [['WO', 0x1234]]);
});

test('a write spanning several registers applies each byte through its own register', (t) => {
  const { m, writes } = map();
  // 8 bytes over W1C (0x8) and WO (0xc).
  m.write(0x8, new Uint8Array([0x10, 0, 0, 0, 0x7, 0, 0, 0]));
  t.is(num(m.read(0x8, 4)), 0xe0);
  t.deepEqual(writes, [['WO', 7]]);
});

test('partial writes merge into the register (byte enables) and the hook sees the merged value', (t) => {
  const { m } = map();
  m.write(0x4, le(0xffffffff));
  m.write(0x6, new Uint8Array([0x00]));
  t.is(num(m.read(0x4, 4)), 0x000000ff);
  t.is(num(m.read(0x6, 2)), 0);
});

test('8-byte registers and arrays', (t) => {
  const { m, writes } = map();
  t.is(m.value('Q'), 0x1_0000_0002n);
  m.write(0x1c, le(5));
  t.is(m.value('Q'), 0x5_0000_0002n);
  m.write(0x28, le(9));
  t.deepEqual(writes, [['ARR2', 9]]);
  t.is(m.value('ARR[2]'), 9);
});

test('accesses breaking the map rules are guest errors: reads all-ones, writes dropped', (t) => {
  const { m, errors } = map({ min: 4, max: 4, aligned: true });
  t.is(num(m.read(0x4, 2)), 0xffff);
  m.write(0x6, le(0xff, 2));
  t.is(num(m.read(0x4, 4)), 0);
  t.is(num(m.read(0x2, 4)), 0xffffffff);
  t.deepEqual(errors.map((e) => e.split(':')[0]), ['access-size', 'access-size', 'access-size']);
  t.regex(errors[0], /read of 2 bytes at 0x4 breaks the access rules/);
});

test('a write to a read-only register is a guest error naming the register; whole or in part, it changes nothing', (t) => {
  const { m, errors } = map();
  m.write(0x0, le(0x55));
  m.write(0x1, new Uint8Array([0xaa]));
  t.is(num(m.read(0x0, 4)), 0x11223344);
  t.deepEqual(errors, [
    'read-only: write of 0x55 to RO (0x0), a read-only register; ignored',
    'read-only: write of 0xaa00 to RO (0x0), a read-only register; ignored',
  ]);
  m.write(0x4, le(1));
  t.is(errors.length, 2, 'writes to other registers are no error');
});

test('holes read as zero (or all-ones when declared so)', (t) => {
  const { m } = map();
  t.is(num(m.read(0x14, 4)), 0);
  const ones = new RegisterMap({ size: 16, unmapped: 'ones', registers: [] });
  t.is(num(ones.read(0, 4)), 0xffffffff);
});

test('reset restores every reset value', (t) => {
  const { m } = map();
  m.write(0x4, le(0xff));
  m.write(0x8, le(0xff));
  m.reset();
  t.is(num(m.read(0x4, 4)), 0);
  t.is(num(m.read(0x8, 4)), 0xf0);
});

test('overlapping or misaligned declarations are refused at construction', (t) => {
  t.throws(() => new RegisterMap({ size: 8, registers: [{ name: 'A', offset: 0 }, { name: 'B', offset: 2, width: 2 }] }), { message: /overlaps A/ });
  t.throws(() => new RegisterMap({ size: 8, registers: [{ name: 'A', offset: 2 }] }), { message: /not aligned/ });
  t.throws(() => new RegisterMap({ size: 8, registers: [{ name: 'A', offset: 8 }] }), { message: /outside/ });
});

test('config space: write masks, W1C bits and write hooks with old and new values', (t) => {
  const c = new ConfigSpace(256);
  c.setU16(6, 0x8010);
  c.setW1c(6, 2, 0x8000);
  c.setWritable(4, 2, 0x0007);
  const seen: [number, number][] = [];
  c.onWrite(4, 2, (old, now) => seen.push([old, now]));
  c.write(4, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  t.is(c.u16(4), 0x0007);
  t.is(c.u16(6), 0x0010, 'W1C bit cleared, RO bit kept');
  t.deepEqual(seen, [[0, 7]]);
  c.seal();
  c.write(4, new Uint8Array([0]));
  c.reset();
  t.is(c.u16(4), 0x0007, 'reset image is what was sealed');
});
