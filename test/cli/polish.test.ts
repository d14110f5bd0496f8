// The CLI as a new user meets it, from README and --help alone: each rough
// edge found that way, pinned.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { irqlabBin, spawnServe } from '../helpers/spawn-serve.ts';
import { eventually } from '../helpers/eventually.ts';
import { VfioUserClient } from '../../src/client/index.ts';

const INDEX = new URL('../../src/index.ts', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;

interface Run { code: number | null; out: string; err: string }

function irqlab(...args: string[]): Run {
  const r = spawnSync(process.execPath, [irqlabBin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Like irqlab(), without blocking the event loop (a server of this process may have to answer). */
function irqlabAsync(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [irqlabBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-polish-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('irqlab --version prints the package version', (t) => {
  const r = irqlab('--version');
  t.is(r.code, 0);
  t.is(r.out, `irqlab ${JSON.parse(spawnSync('cat', [join(ROOT, 'package.json')], { encoding: 'utf8' }).stdout).version}\n`);
});

test('doctor --help prints help instead of running doctor', (t) => {
  const r = irqlab('doctor', '--help');
  t.is(r.code, 0);
  t.regex(r.out, /^usage: irqlab doctor\n/);
  t.notRegex(r.out, /IRQLAB_HOME=/, 'the checks did not run');
  t.is(irqlab('doctor', '--frob').code, 2);
});

test('no help text points at irqlab\'s source files', (t) => {
  const commands = [...irqlab('--help').out.matchAll(/^  (\S+) {2,}/gm)].map((m) => m[1]);
  t.true(commands.length >= 9, commands.join(' '));
  for (const cmd of commands) {
    const r = irqlab(cmd, '--help');
    t.is(r.code, 0, `${cmd} --help: ${r.err}`);
    t.notRegex(r.out, /\b(src|ffi|bench|qemu|test)\/|\.ts\)|recorder/, `${cmd} --help`);
  }
  t.notRegex(irqlab('--help').out, /\b(src|ffi)\//);
});

test('serve --socket in a missing directory names that directory', (t) => {
  const dir = scratch(t);
  const r = irqlab('serve', '--socket', join(dir, 'missing', 'x.sock'));
  t.is(r.code, 2);
  t.regex(r.err, new RegExp(`--socket \\S+x\\.sock: the directory ${join(dir, 'missing')} does not exist`));
  t.notRegex(r.err, /ENOENT|bind/);
  const c = irqlab('serve', '--socket', join(dir, 'x.sock'), '--control', join(dir, 'nope', 'c.sock'));
  t.regex(c.err, /--control \S+: the directory \S+nope does not exist/);
  t.deepEqual(readdirSync(dir), [], 'nothing was created');
});

test('errors about a user\'s files never show irqlab\'s own paths', (t) => {
  const dir = scratch(t);
  const missing = irqlab('serve', join(dir, 'nodev.ts'), '--socket', join(dir, 's.sock'));
  t.is(missing.code, 1);
  t.regex(missing.err, /no device module at \S+nodev\.ts/);
  const bad = join(dir, 'bad.ts');
  writeFileSync(bad, "import { Nothing } from './not-there.ts';\nexport default Nothing;\n");
  const r = irqlab('serve', bad, '--socket', join(dir, 's.sock'));
  t.is(r.code, 1);
  t.regex(r.err, /cannot load device module \S+bad\.ts: .*not-there\.ts/);
  t.notRegex(r.err, /imported from \S*(src|registry)|\/src\/devices\//, r.err);
  const throws = join(dir, 'throws.ts');
  writeFileSync(throws, `import { RegisterMap } from ${JSON.stringify(INDEX)};\nexport default function () {\n  return new RegisterMap({ size: 16, registers: [{ name: 'A', offset: 2 }] });\n}\n`);
  const f = irqlab('serve', throws, '--socket', join(dir, 's.sock'));
  t.is(f.code, 1);
  t.regex(f.err, /the device factory of \S+throws\.ts threw: .* \(at \S+throws\.ts:3:\d+\)/, 'the user\'s line, not irqlab\'s');
  t.false(existsSync(join(dir, 's.sock')));
});

test('a .ts device file works from a folder whose package.json does not say "type": "module"', async (t) => {
  const dir = scratch(t);
  const dev = join(dir, 'mydev.ts');
  writeFileSync(dev, `import { PciFunction } from ${JSON.stringify(INDEX)};\nexport default () => new PciFunction({ ids: { vendor: 0x1234, device: 0x4321, classCode: 0xff0000 }, bars: { 0: { type: 'mem32', size: 0x1000 } } });\n`);
  const s = await spawnServe(dev);
  t.teardown(() => s.stop());
  const c = await VfioUserClient.connect(s.socket);
  t.is(await c.configRead32(0), 0x43211234);
  c.close();
});

test('an exception in the user\'s register hook is reported as theirs, with file and line; the device keeps serving', async (t) => {
  const dir = scratch(t);
  const dev = join(dir, 'hooked.ts');
  writeFileSync(dev, [
    `import { PciFunction, RegisterMap } from ${JSON.stringify(INDEX)};`,
    'export default function () {',
    "  const dev = new PciFunction({ ids: { vendor: 0x1234, device: 0x4321, classCode: 0xff0000 }, bars: { 0: { type: 'mem32', size: 0x1000 } } });",
    "  const regs = new RegisterMap({ size: 0x100, registers: [{ name: 'ID', offset: 0, access: 'RO', reset: 7 },",
    "    { name: 'DOORBELL', offset: 0xc, access: 'WO', write: (v) => { throw new Error(`doorbell value ${v} is not handled`); } }] });",
    '  dev.addRegisters(0, 0, regs);',
    '  return dev;',
    '}',
    '',
  ].join('\n'));
  const s = await spawnServe(dev);
  t.teardown(() => s.stop());
  const c = await VfioUserClient.connect(s.socket);
  t.teardown(() => c.close());
  await c.write16(7, 4, 0x2);
  await t.throwsAsync(c.write32(0, 0xc, 5), { message: /EIO/ });
  await eventually('the log line', () => /threw/.test(s.stderr()), { timeoutMs: 10_000 });
  t.regex(s.stderr(), /REGION_WRITE #\d+: EIO: the device's code threw while handling REGION_WRITE: doorbell value 5 is not handled \(at \S+hooked\.ts:5:\d+\)/);
  t.notRegex(s.stderr(), /internal error/);
  t.is(await c.read32(0, 0), 7, 'still serving');
});

test('irqlab ctl: --help after the socket, hex ids in info, fault rm says what went, an out-of-range fire fails with the range', async (t) => {
  const dir = scratch(t);
  const control = join(dir, 'control.sock');
  const s = await spawnServe(undefined, ['--control', control]);
  t.teardown(() => s.stop());
  const help = await irqlabAsync('ctl', control, '--help');
  t.is(help.code, 0);
  t.regex(help.out, /^usage: irqlab ctl CONTROL_SOCKET COMMAND/);
  const info = await irqlabAsync('ctl', control, 'info');
  t.is(info.code, 0, info.err);
  t.regex(info.out, /^device +0xf1ab:0x0001 \(ImsQueueDevice\)$/m);
  t.regex(info.out, /^class +0xff0000$/m);
  t.notRegex(info.out, /61867/, 'not in decimal');
  const id = (await irqlabAsync('ctl', control, 'fault', 'add', 'irq', 'ims', '3', 'delay=150', 'count=2')).out.trim();
  await irqlabAsync('ctl', control, 'fault', 'add', 'irq', 'msix', 'drop', 'p=0.5', 'seed=9');
  const list = await irqlabAsync('ctl', control, 'fault', 'list');
  t.regex(list.out, /order +id +rule/);
  t.regex(list.out, new RegExp(`\\n +1 +${id} +irq ims 3: delay 150 ms \\(count 2\\)`));
  t.regex(list.out, /\n +2 +f\d+ +irq msix: drop \(p=0\.5 seed 9\)/);
  t.regex(list.out, /consulted in this order/);
  const rm = await irqlabAsync('ctl', control, 'fault', 'rm', id);
  t.is(rm.code, 0);
  t.is(rm.out, `removed ${id}: irq ims 3: delay 150 ms (count 2) (seen 0, applied 0)\n`);
  const again = await irqlabAsync('ctl', control, 'fault', 'rm', id);
  t.is(again.code, 1);
  t.regex(again.err, new RegExp(`no fault rule "${id}"; the rules are f\\d+`));
  const fire = await irqlabAsync('ctl', control, 'fire', 'ims', '64');
  t.not(fire.code, 0);
  t.regex(fire.err, /IMS slot 64 does not exist \(valid: 0\.\.63\)/);
  t.is(fire.out, '');
  const msix = await irqlabAsync('ctl', control, 'fire', 'msix', '8');
  t.regex(msix.err, /MSI-X vector 8 does not exist \(valid: 0\.\.7\)/);
  t.is((await irqlabAsync('ctl', control, 'fire', 'ims', 'x')).code, 2);
  t.is((await irqlabAsync('ctl', control, 'fire', 'ims', '63')).code, 0);
});
