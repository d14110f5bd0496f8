// The recorder's own MessagePack writer against msgpackr: what one writes the
// other reads back as the same values.
import test from 'ava';
import { Unpackr } from 'msgpackr';
import { PackWriter } from '../../src/trace/pack.ts';

const decode = (write: (w: PackWriter) => void) => {
  const buf = Buffer.alloc(1 << 17);
  const w = new PackWriter().into(buf, 0);
  write(w);
  return new Unpackr({ useRecords: false, int64AsType: 'auto' as 'number' }).unpack(buf.subarray(0, w.at));
};

test('numbers at every width boundary read back as written', (t) => {
  const values = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 2 ** 53 - 1, -1, -0x80000000, -0x80000001, 0.5, 1e300];
  for (const v of values) t.is(decode((w) => w.num(v)), v, String(v));
});

test('u64 addresses: numbers and bigints up to 2^64-1', (t) => {
  t.is(decode((w) => w.u64(0xfee00000)), 0xfee00000);
  t.is(decode((w) => w.u64(0xfee00000n)), 0xfee00000);
  t.is(decode((w) => w.u64(0xffffffffffffffffn)), 0xffffffffffffffffn);
});

test('strings: short ASCII, non-ASCII, and every length header', (t) => {
  for (const s of ['', 'msg', 'a'.repeat(31), 'a'.repeat(32), 'b'.repeat(300), 'c'.repeat(70000), 'ünïcödé ✓', 'x'.repeat(20) + '✓']) {
    t.is(decode((w) => w.str(s)), s, `${s.length} chars`);
  }
});

test('binary data and a record of mixed fields', (t) => {
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  t.deepEqual(new Uint8Array(decode((w) => w.bin(bytes))), bytes);
  t.deepEqual(new Uint8Array(decode((w) => w.bin(bytes.subarray(0, 4)))), bytes.subarray(0, 4));
  const rec = decode((w) => w.array(6).str('irq').num(1234567).str('ims').num(3).nil().raw(Uint8Array.of(0x92, 0x01, 0x02)));
  t.deepEqual(rec, ['irq', 1234567, 'ims', 3, null, [1, 2]]);
});
