// `irqlab serve` as a user runs it: one line when ready, a 0600 socket, a
// stale socket replaced, SIGINT/SIGTERM remove the socket and exit 0.
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { VfioUserClient } from '../../src/client/index.ts';

const bin = new URL('../../src/cli/bin.mjs', import.meta.url).pathname;

function serve(args: string[]) {
  const p = spawn(process.execPath, [bin, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; });
  const lines = createInterface({ input: p.stdout });
  const firstLine = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    p.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  return { p, firstLine, exit, stderr: () => stderr, lines };
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  test(`serve prints one ready line, creates a 0600 socket, and ${sig} removes it with exit 0`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'irqlab-cli-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const sock = join(dir, 'dev.sock');
    const s = serve(['--socket', sock]);
    let extra = 0;
    t.is(await s.firstLine, `listening on ${sock}`);
    s.lines.on('line', () => extra++);
    t.is(statSync(sock).mode & 0o777, 0o600);
    const c = await VfioUserClient.connect(sock);
    t.is(await c.configRead32(0), 0x0001f1ab);
    c.close();
    s.p.kill(sig);
    t.is(await s.exit, 0);
    t.false(existsSync(sock), 'socket removed');
    t.is(extra, 0, 'nothing else on stdout');
  });
}

test('a stale socket file is replaced; a live one or a regular file is not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'dev.sock');
  // A stale socket: its server was killed before it could remove it.
  const dead = serve(['--socket', sock]);
  await dead.firstLine;
  dead.p.kill('SIGKILL');
  await dead.exit;
  t.true(existsSync(sock), 'the killed server left its socket behind');
  const s = serve(['--socket', sock]);
  t.is(await s.firstLine, `listening on ${sock}`);

  const second = serve(['--socket', sock]);
  await t.throwsAsync(second.firstLine, { message: /another server is listening/ });
  s.p.kill('SIGTERM');
  await s.exit;

  const file = join(dir, 'file');
  writeFileSync(file, 'keep me');
  const third = serve(['--socket', file]);
  await t.throwsAsync(third.firstLine, { message: /not a socket; refusing to replace it/ });
  t.true(existsSync(file));
});

test('without --socket the socket goes in a private 0700 directory', async (t) => {
  const runtime = mkdtempSync(join(tmpdir(), 'irqlab-run-'));
  t.teardown(() => rmSync(runtime, { recursive: true, force: true }));
  const p = spawn(process.execPath, [bin, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
  const line = await new Promise<string>((resolve) => createInterface({ input: p.stdout! }).once('line', resolve));
  const sock = join(runtime, 'irqlab', 'ims-queue.sock');
  t.is(line, `listening on ${sock}`);
  t.is(statSync(join(runtime, 'irqlab')).mode & 0o777, 0o700);
  t.is(statSync(sock).mode & 0o777, 0o600);
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
});

test('bad arguments get a usage message and status 2', async (t) => {
  const s = serve(['--bogus']);
  await t.throwsAsync(s.firstLine);
  t.is(await s.exit, 2);
  t.regex(s.stderr(), /Unknown option '--bogus'/);
  const u = serve(['no-such-device', '--socket', '/tmp/x']);
  await t.throwsAsync(u.firstLine);
  t.is(await u.exit, 1);
  t.regex(u.stderr(), /unknown device "no-such-device"; built-in devices: ims-queue/);
});

test('serve --trace records the session; irqlab trace shows it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'dev.sock');
  const file = join(dir, 'trace.irqlab');
  const s = serve(['--socket', sock, '--trace', file]);
  await s.firstLine;
  const c = await VfioUserClient.connect(sock);
  await c.write16(7, 4, 0x6);
  await c.dmaMap(0x100000n, 0x10000);
  await c.read32(0, 0x28);
  c.close();
  await new Promise((r) => setTimeout(r, 100));
  s.p.kill('SIGTERM');
  t.is(await s.exit, 0);
  const out = await new Promise<string>((resolve) => {
    const p = spawn(process.execPath, [bin, 'trace', file, '--kind', 'msg', '--command', 'REGION_READ'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    p.stdout.on('data', (d) => { o += d; });
    p.on('exit', () => resolve(o));
  });
  t.regex(out, /REGION_READ/);
  t.regex(out, /REGION_READ #\d+ DB_COUNT 4 B/, 'BAR0+0x28 by its register name');
  t.notRegex(out, /DMA_MAP/, 'filtered by command');
});

test('serve --fd N serves on a listening socket inherited from its parent', async (t) => {
  const { libc, AF_UNIX, SOCK_STREAM } = await import('../../ffi/libc.ts');
  const { closeFd } = await import('../../ffi/index.ts');
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'inherited.sock');
  // A blocking listening socket, as a process manager would pass it.
  const fd = libc.socket(AF_UNIX, SOCK_STREAM, 0);
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  addr.write(sock, 2);
  t.is(libc.bind(fd, addr, addr.length), 0);
  t.is(libc.listen(fd, 4), 0);
  const p = spawn(process.execPath, [bin, 'serve', '--fd', '3'], { stdio: ['ignore', 'pipe', 'pipe', fd] });
  closeFd(fd);
  const line = await new Promise<string>((resolve) => createInterface({ input: p.stdout! }).once('line', resolve));
  t.is(line, 'listening on fd 3');
  const c = await VfioUserClient.connect(sock);
  t.is(await c.configRead32(0), 0x0001f1ab);
  c.close();
  p.kill('SIGTERM');
  t.is(await new Promise((r) => p.once('exit', r)), 0);
  t.true(existsSync(sock), 'an inherited socket is not ours to remove');
  const bad = spawn(process.execPath, [bin, 'serve', '--fd', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.on('data', (d) => { err += d; });
  t.is(await new Promise((r) => bad.once('exit', r)), 1);
  t.regex(err, /descriptor 0 is not a listening socket/);
});

test('serve --poll-us N serves in poll mode; a bad N is refused with the valid range', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = join(dir, 'dev.sock');
  const s = serve(['--socket', sock, '--poll-us', '150']);
  t.is(await s.firstLine, `listening on ${sock}`);
  t.regex(s.stderr(), /poll mode: up to 150 us after each message/);
  const c = await VfioUserClient.connect(sock);
  t.is(await c.configRead32(0), 0x0001f1ab);
  c.close();
  s.p.kill('SIGTERM');
  t.is(await s.exit, 0);
  const bad = serve(['--socket', join(dir, 'bad.sock'), '--poll-us=-3']);
  await t.throwsAsync(bad.firstLine);
  t.not(await bad.exit, 0);
  t.regex(bad.stderr(), /--poll-us wants a whole number of microseconds from 0 \(off\) to 10000, got "-3"/);
});
