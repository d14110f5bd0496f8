// irqlab setup: the guest lab under $IRQLAB_HOME (QEMU 11.1 with the vfio-user
// client, Debian's 6.12 and 7.3 kernels, the guest modules, busybox,
// pciutils), by the package's own Makefile and set-up scripts: the same as
// `make setup` in a checkout, for an irqlab installed with npm.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UsageError } from './usage.ts';

const help = `usage: irqlab setup

Installs what guests need under $IRQLAB_HOME (default ~/.cache/irqlab), from
Debian's archive, without touching the system's apt state: QEMU 11.1, the 6.12
and 7.3 kernels, a build root for the guest modules (built for each kernel),
busybox and pciutils. Runs as root on Debian 12 or 13; a few minutes the first
time, under a second once everything is there. irqlab doctor says what is set up.
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  if (argv.length) throw new UsageError(`setup takes no arguments, got ${argv.join(' ')}`);
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return new Promise((resolve, reject) => {
    const p = spawn('make', ['--no-print-directory', '-C', root, 'lab', 'modules'], { stdio: 'inherit' });
    p.on('error', (err) => reject(new Error(`cannot run make (${err.message}): install make`)));
    p.on('exit', (code) => resolve(code ?? 1));
  });
}
