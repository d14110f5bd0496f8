import test from 'ava';
import { AgentParser, encodeRequest } from '../../src/vm/agent-protocol.ts';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

test('a request is a header line, then exactly len bytes of base64 data', (t) => {
  const bytes = encodeRequest({ id: 7, op: 'write', timeoutS: 5, arg1: '/tmp/a b', arg2: '3 2', data: Buffer.from('AB') });
  const data = `${b64('AB')}\n`;
  t.is(bytes.toString(), `7 write 5 ${b64('/tmp/a b')} ${b64('3 2')} ${data.length}\n${data}`);
});

test('empty arguments are "-" and no data means length 0', (t) => {
  t.is(encodeRequest({ id: 1, op: 'read', timeoutS: 0, arg1: '/x' }).toString(), `1 read 0 ${b64('/x')} - 0\n`);
});

test('a reply split anywhere is reassembled, stdout and stderr decoded', (t) => {
  const stdout = Buffer.alloc(300, 0xa5);
  const wire = Buffer.from(
    `.irqlab-reply 3 1\r\n${b64(stdout).replace(/(.{76})/g, '$1\n')}\n.irqlab-stderr\n${b64('oops\n')}\n.irqlab-end 3\n`,
  );
  const p = new AgentParser();
  const events = [];
  for (let i = 0; i < wire.length; i += 7) events.push(...p.push(wire.subarray(i, i + 7)));
  t.is(events.length, 1);
  const ev = events[0]!;
  if (ev.kind !== 'reply') return t.fail(ev.kind);
  t.is(ev.reply.id, 3);
  t.is(ev.reply.status, 1);
  t.deepEqual(ev.reply.stdout, stdout);
  t.is(ev.reply.stderr.toString(), 'oops\n');
});

test('the banner says the protocol and the kernel release; other lines are noise', (t) => {
  const p = new AgentParser();
  t.deepEqual(p.push(Buffer.from('hello\n.irqlab-ready 1 6.12.57+deb13-amd64\n')), [
    { kind: 'noise', line: 'hello' },
    { kind: 'ready', protocol: 1, release: '6.12.57+deb13-amd64' },
  ]);
});

test('a reply cut short by a new banner is reported, then the banner', (t) => {
  const p = new AgentParser();
  const events = p.push(Buffer.from(`.irqlab-reply 4 0\n${b64('x')}\n.irqlab-ready 1 r\n`));
  t.deepEqual(
    events.map((e) => e.kind),
    ['error', 'ready'],
  );
  t.false(p.inReply);
});

test('a line that is not base64 inside a reply marks it damaged', (t) => {
  const p = new AgentParser();
  const [ev] = p.push(Buffer.from('.irqlab-reply 5 0\nnot base64!\n.irqlab-stderr\n.irqlab-end 5\n'));
  t.is(ev?.kind, 'error');
});

test('the agent rejecting a header is an error event', (t) => {
  const p = new AgentParser();
  t.deepEqual(p.push(Buffer.from(".irqlab-error bad id 'x'\n")), [{ kind: 'error', message: "bad id 'x'" }]);
});
