// irqlab serve [DEVICE] --socket PATH
import { parseArgs } from 'node:util';
import { VfioUserServer } from '../server/server.ts';
import { loadDevice, builtinDevices, DEFAULT_DEVICE } from '../devices/registry.ts';

const help = `usage: irqlab serve [DEVICE] --socket PATH [options]

Serves DEVICE (default ${DEFAULT_DEVICE}) over vfio-user on a UNIX socket, one
client at a time. Prints "listening on PATH" when ready.

DEVICE: ${Object.keys(builtinDevices).join(', ')}, or a path to a module whose
default export is a device (see examples/).

options:
  --socket PATH        socket to create (mode 0600; a stale socket is replaced)
                       (--socket-path=PATH is accepted too)
  --allow-uid UID      also accept clients running as UID (repeatable)
  --quiet              no log lines on stderr
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      socket: { type: 'string' },
      'socket-path': { type: 'string' },
      'allow-uid': { type: 'string', multiple: true },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const socketPath = values.socket ?? values['socket-path'];
  if (!socketPath) {
    process.stderr.write(`irqlab serve: --socket PATH is required\n\n${help}`);
    return 2;
  }
  if (positionals.length > 1) {
    process.stderr.write(`irqlab serve: one device at a time, got ${positionals.join(' ')}\n`);
    return 2;
  }
  const allowUids = (values['allow-uid'] ?? []).map((u) => {
    const n = Number(u);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--allow-uid wants a number, got ${u}`);
    return n;
  });
  const device = await loadDevice(positionals[0]);
  const log = values.quiet ? () => {} : (line: string) => process.stderr.write(`irqlab: ${line}\n`);
  const server = new VfioUserServer(device, { socketPath, allowUids, log }).listen();
  process.stdout.write(`listening on ${socketPath}\n`);

  return await new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: removing ${socketPath} and exiting`);
      server.close();
      resolve(0);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
