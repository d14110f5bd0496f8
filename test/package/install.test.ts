// irqlab as an npm user gets it, following the README's "Use irqlab in your
// own project" section: `npm pack` here, install the tarball into a fresh
// project in a temp dir, write the README's files there, type-check them
// against the installed package, serve the device with `npx irqlab serve` and
// talk to it, and run the scenario with `npx irqlab run` against a guest.
//
// npm runs with --prefer-offline: the packages irqlab depends on are in npm's
// cache since this checkout's own `npm ci`; typescript and @types/node are
// pinned to this checkout's versions for the same reason.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { VfioUserClient } from '../../src/client/index.ts';
import { eventually } from '../helpers/eventually.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const exec = promisify(execFile);
const NPM = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** The fenced blocks of a README section, by the file name on their first line (`// mydev.ts`). */
function readmeFiles(section: string): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`README has no section "${section}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end < 0 ? undefined : end);
  const files = new Map<string, string>();
  for (const m of text.matchAll(/```(?:ts|jsonc)\n\/\/ (\S+)\n([\s\S]*?)```/g)) files.set(m[1], m[2]);
  return files;
}

function version(pkg: string): string {
  return JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

let project: string;
let work: string;

test.before(async (t) => {
  const t0 = Date.now();
  const step = (what: string) => t.log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  work = mkdtempSync(join(tmpdir(), 'irqlab-package-'));
  project = join(work, 'mylab');
  // npm pack runs `prepare` (the type declarations) first.
  const { stdout } = await exec('npm', ['pack', '--pack-destination', work, '--loglevel=error'], { cwd: ROOT, maxBuffer: 1 << 24 });
  const tarball = join(work, stdout.trim().split('\n').at(-1)!);
  step('npm pack');
  await exec('mkdir', [project]);
  // The README's commands, in its order.
  await exec('npm', ['init', '-y'], { cwd: project });
  await exec('npm', ['pkg', 'set', 'type=module'], { cwd: project });
  await exec('npm', ['install', ...NPM, tarball], { cwd: project });
  step('npm install of the tarball');
  await exec('npm', ['install', ...NPM, '-D', `typescript@${version('typescript')}`, `@types/node@${version('@types/node')}`], { cwd: project });
  step('npm install -D typescript @types/node');
  for (const [name, text] of readmeFiles('Use irqlab in your own project')) writeFileSync(join(project, name), text);
});
test.after.always(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test.serial('the README\'s section has the files and commands this test uses', (t) => {
  const files = readmeFiles('Use irqlab in your own project');
  t.deepEqual([...files.keys()].sort(), ['mydev.ts', 'myscenario.ts', 'tsconfig.json']);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const cmd of ['npm init -y && npm pkg set type=module', 'npm install -D typescript @types/node', 'npx irqlab serve mydev.ts --socket', 'npx irqlab run myscenario.ts mydev.ts', 'npx tsc -p .']) {
    t.true(readme.includes(cmd), cmd);
  }
});

test.serial('installed from the tarball: the package, tsx and the irqlab command are where npm puts them', (t) => {
  const pkg = join(project, 'node_modules', 'irqlab');
  t.true(existsSync(join(pkg, 'types', 'src', 'index.d.ts')), 'type declarations');
  t.true(existsSync(join(pkg, 'qemu', 'guest-generic', 'generic_main.c')), 'the guest modules\' sources');
  t.true(existsSync(join(project, 'node_modules', 'tsx')), 'tsx, a dependency');
  t.true(existsSync(join(project, 'node_modules', '.bin', 'irqlab')));
  t.false(readdirSync(pkg).includes('test'), 'no tests in the package');
});

test.serial('import { PciFunction, ... } from \'irqlab\' type-checks; a typo in a fault rule does not', async (t) => {
  const tsc = join(project, 'node_modules', '.bin', 'tsc');
  await t.notThrowsAsync(exec(tsc, ['-p', '.'], { cwd: project }));
  writeFileSync(join(project, 'typo.ts'), "import { FaultEngine, Region, IrqIndex, ImsTable, IMS_SLOT_SIZE, Command } from 'irqlab';\n" +
    'void [Region.CONFIG, IrqIndex.MSIX, ImsTable, IMS_SLOT_SIZE, Command.REGION_READ];\n' +
    "new FaultEngine().add({ on: 'irq', kind: 'msix', index: 2, action: 'drop', cuont: 1 });\n");
  const e = await t.throwsAsync(exec(tsc, ['-p', '.'], { cwd: project })) as Error & { stdout: string };
  t.regex(e.stdout, /typo\.ts\(3,\d+\): error TS2561: .*'cuont' does not exist in type 'IrqRule'/);
  t.is(e.stdout.trim().split('\n').length, 1, `only that error: ${e.stdout}`);
  rmSync(join(project, 'typo.ts'));
});

test.serial('npx irqlab serve mydev.ts: the device answers a client', async (t) => {
  const sock = join(work, 'mydev.sock');
  // Its own process group, as a terminal runs it: a signal reaches npx and the irqlab it started.
  const p = spawn('npx', ['irqlab', 'serve', 'mydev.ts', '--socket', sock], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const group = (sig: NodeJS.Signals) => { try { process.kill(-p.pid!, sig); } catch { /* gone */ } };
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => p.once('exit', r));
  t.teardown(() => group('SIGKILL'));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: p.stdout }).once('line', resolve);
    p.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  t.is(line, `listening on ${sock}`);
  const c = await VfioUserClient.connect(sock);
  t.is(await c.configRead32(0), 0x00421234, 'vendor 1234, device 0042');
  await c.write16(7, 4, 0x2); // memory decoding on
  t.is(await c.read32(0, 0), 0x4d594456, 'its ID register');
  c.close();
  group('SIGTERM');
  await exited;
  // npx may end before the irqlab it ran.
  await eventually('irqlab to remove its socket on SIGTERM', () => !existsSync(sock), { timeoutMs: 10_000 });
  t.pass();
});

test.serial('npx irqlab run myscenario.ts mydev.ts: the scenario passes in a guest', async (t) => {
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn('npx', ['irqlab', 'run', 'myscenario.ts', 'mydev.ts'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, out }));
  });
  t.is(r.code, 0, r.out);
  t.regex(r.out, /\] PASS\n/);
});
