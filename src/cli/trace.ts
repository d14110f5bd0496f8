// irqlab trace FILE [filters] [--limit N] [--stats]
import { parseArgs } from 'node:util';
import { readTrace, TraceFormatError } from '../trace/reader.ts';
import { parseFilter, matches, FilterError } from '../trace/filter.ts';
import { line, headerText, TraceStatsBuilder } from '../trace/render.ts';
import { RECORD_KINDS, type TraceRecord } from '../trace/format.ts';
import { RegisterNames } from '../trace/names.ts';

const help = `usage: irqlab trace FILE [options]

Shows a trace written by irqlab serve/boot/run --trace FILE (or by a
TraceRecorder in a script): one line per record -- seconds since the start,
kind, what happened; registers by their names in the device's register maps.
Messages: "<-" the client sent it, "->" irqlab sent it.

options:
  --kind K,...         only these kinds: ${RECORD_KINDS.join(', ')}
  --command C,...      only these vfio-user commands (REGION_READ, DMA_WRITE...)
  --vector N,...       only interrupts of these MSI/MSI-X vectors
  --slot N,...         only interrupts of these IMS slots
                       (--command selects messages and --vector/--slot interrupts
                       unless --kind says which kinds to show)
  --from SECONDS       from this time on (seconds since the trace started)
  --to SECONDS         up to this time
  --limit N            at most N records
  --stats              a summary instead of the timeline: records by kind,
                       messages by command, interrupts by kind and outcome,
                       faults, drops (of the selected records)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kind: { type: 'string' },
      command: { type: 'string' },
      vector: { type: 'string' },
      slot: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      stats: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const usage = (why: string) => {
    process.stderr.write(`irqlab trace: ${why}\n(irqlab trace --help lists the options)\n`);
    return 2;
  };
  if (positionals.length !== 1) return usage(positionals.length ? `one trace file at a time, got ${positionals.join(' ')}` : 'which trace file? (irqlab trace FILE)');
  const file = positionals[0];
  let filter;
  try {
    filter = parseFilter(values);
  } catch (err) {
    if (err instanceof FilterError) return usage(err.message);
    throw err;
  }
  let limit = Infinity;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 0) return usage(`--limit wants a count, got ${values.limit}`);
  }

  const out = new Output();
  const stats = values.stats ? new TraceStatsBuilder() : null;
  const kindWidth = Math.max(...[...(filter.kinds ?? RECORD_KINDS), 'drop'].map((k) => k.length));
  let truncated: { bytes: number; offset: number } | undefined;
  let shown = 0;
  let limited = false;
  let names: RegisterNames | undefined;
  try {
    for await (const r of readTrace(file, { onTruncated: (t) => (truncated = t) })) {
      if (r.kind === 'header') {
        names = RegisterNames.fromHeader(r);
        if (stats) stats.add(r);
        else await out.write(`# ${headerText(r)}\n`);
        continue;
      }
      if (r.kind === 'end') stats?.noteEnd(r);
      if (!matches(filter, r)) continue;
      if (shown >= limit) {
        limited = true;
        break;
      }
      shown++;
      if (stats) stats.add(r as TraceRecord);
      else await out.write(`${line(r, kindWidth, names)}\n`);
      if (out.closed) break;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof TraceFormatError || e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
      await out.end();
      process.stderr.write(`irqlab trace: ${err instanceof TraceFormatError ? err.message : `cannot read ${file}: ${e.message}`}\n`);
      return 1;
    }
    throw err;
  }
  if (stats) await out.write(stats.render({ truncated, limited }));
  await out.end();
  if (truncated) {
    process.stderr.write(`irqlab trace: ${file} ends inside a record (${truncated.bytes} bytes from byte ${truncated.offset} ignored): the recorder was stopped without close()\n`);
  }
  return 0;
}

/** stdout with back-pressure, quiet when the reader goes away (| head). */
class Output {
  closed = false;
  private buf = '';

  constructor() {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
      else throw err;
    });
  }

  async write(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= 64 << 10) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.closed || !this.buf) return;
    const chunk = this.buf;
    this.buf = '';
    if (!process.stdout.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done);
          process.stdout.off('error', done);
          resolve();
        };
        process.stdout.on('drain', done);
        process.stdout.on('error', done);
      });
    }
  }

  async end(): Promise<void> {
    await this.flush();
  }
}
