import test from 'ava';
import { SerialConsole } from '../../src/vm/serial-console.ts';

test('text is kept without CRs, and waitFor finds text already seen', async (t) => {
  const c = new SerialConsole();
  c.push(Buffer.from('Linux version 6.12\r\nirqlab: ready\r\n'));
  t.is(c.text, 'Linux version 6.12\nirqlab: ready\n');
  const m = await c.waitFor(/irqlab: (\w+)/);
  t.is(m[1], 'ready');
  t.is(m.index, 19);
});

test('waitFor from a mark only sees later text, split across chunks', async (t) => {
  const c = new SerialConsole();
  c.push(Buffer.from('probe ok\n'));
  const mark = c.length;
  const wait = c.waitFor(/probe ok/g, { from: mark, timeoutMs: 1000 });
  c.push(Buffer.from('pro'));
  c.push(Buffer.from('be ok\n'));
  t.is((await wait).index, mark);
});

test('a multi-byte character split across chunks survives', (t) => {
  const c = new SerialConsole();
  const bytes = Buffer.from('µs\n');
  c.push(bytes.subarray(0, 1));
  c.push(bytes.subarray(1));
  t.is(c.text, 'µs\n');
});

test('a timeout names the pattern and shows the last console lines', async (t) => {
  const c = new SerialConsole();
  c.push(Buffer.from('one\ntwo\n'));
  await t.throwsAsync(c.waitFor(/three/, { timeoutMs: 100 }), {
    message: '/three/ did not appear on the guest console within 0.1 s; last console lines:\none\ntwo',
  });
});

test('closing fails pending waits with the reason', async (t) => {
  const c = new SerialConsole();
  const wait = c.waitFor(/never/);
  c.close(new Error('QEMU exited'));
  await t.throwsAsync(wait, { message: 'QEMU exited' });
});

test('terminal escape sequences are dropped, even when cut by a chunk boundary', (t) => {
  const c = new SerialConsole();
  c.push(Buffer.from('\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS\nBooting from ROM...\x1b'));
  c.push(Buffer.from('c\x1b[?7'));
  c.push(Buffer.from('l\x1b[2Jirqlab\n'));
  t.is(c.text, 'SeaBIOS\nBooting from ROM...irqlab\n');
});

test('only complete lines match: a line still arriving is not cut short', async (t) => {
  const c = new SerialConsole();
  const wait = c.waitFor(/irqlab-test: (\w+)/, { timeoutMs: 1000 });
  c.push(Buffer.from('irqlab-test: h'));
  c.push(Buffer.from('ello\n'));
  t.is((await wait)[1], 'hello');
});
