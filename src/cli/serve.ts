// irqlab serve [DEVICE] --socket PATH
import { parseArgs } from 'node:util';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { VfioUserServer } from '../server/server.ts';
import { checkPollUs } from '../transport/poll-mode.ts';
import { ControlServer } from '../control/server.ts';
import { TraceRecorder } from '../trace/index.ts';
import { loadDevice, builtinDevices, DEFAULT_DEVICE } from '../devices/registry.ts';
import { parentDirExists } from './paths.ts';

const help = `usage: irqlab serve [DEVICE] --socket PATH [options]

Serves DEVICE (default ${DEFAULT_DEVICE}) over vfio-user on a UNIX socket, one
client at a time. Prints "listening on PATH" when ready.

DEVICE: ${Object.keys(builtinDevices).join(', ')}, or a path to a module whose
default export is a device (see examples/).

options:
  --socket PATH        socket to create (mode 0600; a stale socket is replaced)
                       (--socket-path=PATH is accepted too). Default: DEVICE.sock
                       in a private directory (0700) under $XDG_RUNTIME_DIR or /tmp
  --fd N               serve on listening socket descriptor N, inherited from
                       whoever started us (--fd=N, as vfio-user backends accept)
  --allow-uid UID      also accept clients running as UID (repeatable)
  --control PATH       open a control socket for irqlab ctl (faults, interrupts, stats)
  --trace FILE         record every message, interrupt, DMA and fault (read it
                       with irqlab trace FILE)
  --poll-us N          poll mode: after each message keep trying the socket for
                       up to N us (0-10000, adaptive: no CPU when idle) before
                       sleeping; lower latency, more CPU while traffic flows.
                       Default: $IRQLAB_POLL_US, else 0 (off). See README, Benchmarks
  --quiet              no log lines on stderr
`;

/**
 * A socket in a directory only we can enter (0700), so nobody else can reach
 * it whatever the socket's own mode: $XDG_RUNTIME_DIR/irqlab or /tmp/irqlab-UID.
 */
export function defaultSocketPath(device: string): string {
  const uid = process.getuid?.() ?? 0;
  const dir = process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, 'irqlab') : join(tmpdir(), `irqlab-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid) throw new Error(`${dir} is not a directory owned by uid ${uid}; pass --socket PATH`);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
  return join(dir, `${basename(device).replace(/\.[cm]?[jt]s$/, '')}.sock`);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      socket: { type: 'string' },
      'socket-path': { type: 'string' },
      fd: { type: 'string' },
      'allow-uid': { type: 'string', multiple: true },
      control: { type: 'string' },
      trace: { type: 'string' },
      'poll-us': { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  let listenFd: number | undefined;
  if (values.fd !== undefined) {
    listenFd = Number(values.fd);
    if (!Number.isInteger(listenFd) || listenFd < 0) throw new Error(`--fd wants a descriptor number, got ${values.fd}`);
    if (values.socket ?? values['socket-path']) throw new Error('--fd and --socket exclude each other');
  }
  const given = values.socket ?? values['socket-path'];
  if (given !== undefined) parentDirExists(given, '--socket');
  if (values.control !== undefined) parentDirExists(values.control, '--control');
  if (values.trace !== undefined) parentDirExists(values.trace, '--trace');
  const socketPath = listenFd !== undefined ? `fd ${listenFd}` : given ?? defaultSocketPath(positionals[0] ?? DEFAULT_DEVICE);
  if (positionals.length > 1) {
    process.stderr.write(`irqlab serve: one device at a time, got ${positionals.join(' ')}\n`);
    return 2;
  }
  const allowUids = (values['allow-uid'] ?? []).map((u) => {
    const n = Number(u);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--allow-uid wants a number, got ${u}`);
    return n;
  });
  const pollUs = values['poll-us'] === undefined ? undefined : checkPollUs(values['poll-us'], '--poll-us');
  const device = await loadDevice(positionals[0]);
  const log = values.quiet ? () => {} : (line: string) => process.stderr.write(`irqlab: ${line}\n`);
  const rec = values.trace ? await TraceRecorder.open(values.trace, { deviceName: positionals[0] ?? DEFAULT_DEVICE }) : undefined;
  const server = new VfioUserServer(device, {
    socketPath, listenFd, allowUids, log, tap: rec?.tap, pollUs,
    dmaObserver: rec ? (op, a, d) => rec.recordDmaAccess(op, a, d) : undefined,
  }).listen();
  rec?.attach({ server, device });
  if (server.pollUs) log(`poll mode: up to ${server.pollUs} us after each message`);
  let control: ControlServer | undefined;
  try {
    control = values.control ? await ControlServer.listen(values.control, { device, server }, log) : undefined;
  } catch (err) {
    server.close(); // no socket left behind
    await rec?.close();
    throw err;
  }
  process.stdout.write(`listening on ${socketPath}\n`);

  return await new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: ${listenFd === undefined ? `removing ${socketPath} and ` : ''}exiting`);
      server.close();
      void (async () => {
        await control?.close();
        await rec?.close();
      })().then(() => resolve(0), (err) => {
        log(`could not finish the trace: ${(err as Error).message}`);
        resolve(1);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
