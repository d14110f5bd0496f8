// Traces for people: one line per record (time, kind, what happened) and a
// summary of a whole trace (records by kind, messages by command, interrupts
// by kind and outcome, faults, drops).
import {
  Command, commandName, irqIndexName,
  IRQ_SET_DATA_NONE, IRQ_SET_DATA_BOOL, IRQ_SET_DATA_EVENTFD,
  IRQ_SET_ACTION_MASK, IRQ_SET_ACTION_UNMASK, IRQ_SET_ACTION_TRIGGER,
  REGION_INFO_FLAG_READ, REGION_INFO_FLAG_WRITE, REGION_INFO_FLAG_MMAP,
  DMA_MAP_READ, DMA_MAP_WRITE,
} from '../protocol/constants.ts';
import { errnoName } from '../protocol/errno.ts';
import { table } from '../text/table.ts';
import type { MsgRecord, Summary, TraceHeader, TraceRecord, U64 } from './format.ts';

/** Seconds since the start, 6 decimals, aligned up to 9999 s: "    0.512340". */
export function formatTime(us: number): string {
  return (us / 1e6).toFixed(6).padStart(11);
}

export function hex(v: U64, digits = 0): string {
  return `0x${v.toString(16).padStart(digits, '0')}`;
}

const regionNames = ['BAR0', 'BAR1', 'BAR2', 'BAR3', 'BAR4', 'BAR5', 'ROM', 'config', 'VGA'];
export function regionName(r: number): string {
  return regionNames[r] ?? `region ${r}`;
}

function bytes(n: number | U64): string {
  const v = Number(n);
  if (v >= 1 << 20 && v % (1 << 20) === 0) return `${v / (1 << 20)} MiB`;
  if (v >= 1024 && v % 1024 === 0) return `${v / 1024} KiB`;
  return `${v} B`;
}

/** " = 0x00000003" for a 4-byte value, " = [01 02 03]" for other small data, "" otherwise. */
function dataText(s: { value?: U64; data?: Uint8Array; count?: number }): string {
  if (s.value !== undefined) return ` = ${hex(s.value, (s.count ?? 0) * 2)}`;
  if (s.data) return ` = [${Array.from(s.data, (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
  return '';
}

function at(s: Summary): string {
  return `${regionName(s.region ?? -1)}+${hex(s.offset ?? 0)}`;
}

function irqSetText(s: Summary): string {
  const f = s.flags ?? 0;
  const data = f & IRQ_SET_DATA_EVENTFD ? 'eventfd' : f & IRQ_SET_DATA_BOOL ? 'bool' : f & IRQ_SET_DATA_NONE ? 'none' : '?';
  const action = f & IRQ_SET_ACTION_TRIGGER ? 'trigger' : f & IRQ_SET_ACTION_MASK ? 'mask' : f & IRQ_SET_ACTION_UNMASK ? 'unmask' : '?';
  const count = s.count ?? 0;
  const range = count === 0 ? 'none' : count === 1 ? `${s.start}` : `${s.start}..${(s.start ?? 0) + count - 1}`;
  return `${irqIndexName(s.index ?? -1)} ${range} ${action} ${data}${s.data ? ` [${Array.from(s.data).join(' ')}]` : ''}`;
}

function capsText(c: Record<string, unknown>): string {
  return Object.entries(c).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
}

/** What a message's payload said, in words. */
export function summaryText(command: number, reply: boolean, s: Summary | null): string {
  if (!s) return '';
  if (s.malformed) return `malformed: ${s.malformed}`;
  switch (command) {
    case Command.VERSION:
      return `${s.major}.${s.minor}${s.capabilities ? ` ${capsText(s.capabilities)}` : ''}`;
    case Command.DMA_MAP: {
      const f = s.flags ?? 0;
      return `${hex(s.address ?? 0)} +${hex(s.size ?? 0)} ${f & DMA_MAP_READ ? 'r' : ''}${f & DMA_MAP_WRITE ? 'w' : ''} offset ${hex(s.offset ?? 0)}`;
    }
    case Command.DMA_UNMAP:
      return `${hex(s.address ?? 0)} +${hex(s.size ?? 0)}${s.flags ? ` flags ${hex(s.flags)}` : ''}`;
    case Command.DEVICE_GET_INFO:
      return reply ? `${s.regions} regions, ${s.irqs} irq indexes, flags ${hex(s.flags ?? 0)}` : '';
    case Command.DEVICE_GET_REGION_INFO: {
      if (!reply) return regionName(s.index ?? -1);
      const f = s.flags ?? 0;
      const access = `${f & REGION_INFO_FLAG_READ ? 'r' : ''}${f & REGION_INFO_FLAG_WRITE ? 'w' : ''}${f & REGION_INFO_FLAG_MMAP ? ' mmap' : ''}`;
      return `${regionName(s.index ?? -1)} ${bytes(s.size ?? 0)}${access ? ` ${access}` : ''}`;
    }
    case Command.DEVICE_GET_REGION_IO_FDS:
      return `${regionName(s.index ?? -1)}${reply ? ` ${s.count} fds` : ''}`;
    case Command.DEVICE_GET_IRQ_INFO:
      return `${irqIndexName(s.index ?? -1)}${reply ? ` count ${s.count} flags ${hex(s.flags ?? 0)}` : ''}`;
    case Command.DEVICE_SET_IRQS:
      return irqSetText(s);
    case Command.REGION_READ:
      return reply ? dataText(s).trimStart() || bytes(s.count ?? 0) : `${at(s)} ${bytes(s.count ?? 0)}`;
    case Command.REGION_WRITE:
      return reply ? bytes(s.count ?? 0) : `${at(s)} ${bytes(s.count ?? 0)}${dataText(s)}`;
    case Command.DMA_READ:
      return reply ? `${hex(s.address ?? 0)} ${bytes(s.count ?? 0)}${dataText(s)}` : `${hex(s.address ?? 0)} ${bytes(s.count ?? 0)}`;
    case Command.DMA_WRITE:
      return reply ? '' : `${hex(s.address ?? 0)} ${bytes(s.count ?? 0)}${dataText(s)}`;
    case Command.REGION_WRITE_MULTI: {
      if (reply) return `${s.count} done`;
      const shown = (s.writes ?? []).map(([r, o, n, v]) => `${regionName(r)}+${hex(o)}${dataText(v instanceof Uint8Array ? { data: v } : { value: v, count: n })}`);
      const more = (s.count ?? 0) - shown.length;
      return `${s.count} writes: ${shown.join(', ')}${more > 0 ? `, ${more} more` : ''}`;
    }
    case Command.DEVICE_FEATURE:
      return `flags ${hex(s.flags ?? 0)} ${bytes(s.count ?? 0)}`;
    case Command.MIG_DATA_READ:
    case Command.MIG_DATA_WRITE:
      return `size ${s.size} ${bytes(s.count ?? 0)}`;
    default:
      return '';
  }
}

function msgText(r: MsgRecord): string {
  const arrow = r.dir === 'in' ? '<-' : '->';
  const extra = [
    r.noReply ? '(posted)' : '',
    r.fds ? `+${r.fds} fd${r.fds > 1 ? 's' : ''}` : '',
  ].filter(Boolean).join(' ');
  let body: string;
  if (r.type === 'reply') {
    const what = r.error ? `error ${errnoName(r.errno)}` : summaryText(r.command, true, r.summary);
    body = `reply #${r.id} ${r.commandName}${what ? ` ${what}` : ''}`;
  } else {
    const what = summaryText(r.command, false, r.summary);
    body = `${r.commandName} #${r.id}${what ? ` ${what}` : ''}`;
  }
  return `${arrow} ${body}${extra ? ` ${extra}` : ''}`;
}

/** The human description of one record (without time and kind). */
export function describe(r: TraceRecord): string {
  switch (r.kind) {
    case 'msg':
      return msgText(r);
    case 'irq': {
      const what = r.irq === 'ims' ? `ims slot ${r.index}` : r.irq === 'msix' || r.irq === 'msi' ? `${r.irq} vector ${r.index}` : r.index ? `${r.irq} ${r.index}` : r.irq;
      const msg = r.address !== undefined ? ` ${hex(r.address)}/${hex(r.data ?? 0)}` : '';
      const pasid = r.pasid !== undefined ? ` pasid ${hex(r.pasid)} (not carried by the message)` : '';
      return `${what} ${r.outcome}${msg}${pasid}${r.detail ? ` (${r.detail})` : ''}`;
    }
    case 'dma':
      return `${r.op} ${hex(r.address)} ${bytes(r.count)}${dataText(r)}${r.id === undefined ? ' (shared memory)' : ` #${r.id}`}`;
    case 'fault':
      return `${r.action}${r.target ? ` ${r.target}` : ''} (rule ${r.rule})${r.detail ? `: ${r.detail}` : ''}`;
    case 'reset':
      return r.reason;
    case 'guest-error':
      return r.guestError ? `${r.guestError}: ${r.message}` : r.message;
    case 'posted': {
      const value = r.value !== undefined ? ` ${hex(r.value)}` : '';
      const held = r.heldMs !== undefined ? ` after ${r.heldMs} ms held` : '';
      return `write ${r.event}: ${regionName(r.region)}+${hex(r.offset)} ${bytes(r.count)}${value}${held} (${r.detail})`;
    }
    case 'session':
      return `client ${r.event === 'connect' ? 'connected' : r.event === 'disconnect' ? 'disconnected' : 'refused'} (pid ${r.pid}${r.uid !== undefined ? `, uid ${r.uid}` : ''})${r.detail ? `: ${r.detail}` : ''}`;
    case 'drop':
      return `${r.count} records dropped since ${formatTime(r.since).trim()} s (the disk did not keep up)`;
    case 'end':
      return `trace closed: ${r.records} records, ${r.dropped} dropped`;
    case 'header':
      return headerText(r);
    default:
      return JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
  }
}

/** One timeline line: time, kind padded to `kindWidth`, description. */
export function line(r: TraceRecord, kindWidth: number): string {
  return `${formatTime(r.t)}  ${r.kind.padEnd(kindWidth)}  ${describe(r)}`;
}

export function headerText(h: TraceHeader): string {
  const d = h.device;
  const ids = d?.vendor !== undefined ? ` ${hex(d.vendor, 4).slice(2)}:${hex(d.device ?? 0, 4).slice(2)}` : '';
  const dev = d ? `${d.name ?? 'device'}${ids}` : 'unknown device';
  return `irqlab ${h.irqlab} trace of ${dev}, started ${h.startedAt}`;
}

// ---- statistics --------------------------------------------------------------

export class TraceStatsBuilder {
  header: TraceHeader | undefined;
  records = 0;
  first: number | undefined;
  last = 0;
  readonly byKind = new Map<string, number>();
  readonly byCommand = new Map<number, { clientCmds: number; serverCmds: number; posted: number; replies: number; errors: number; bytes: number }>();
  readonly irqs = new Map<string, Map<string, number>>();
  readonly faults = new Map<string, number>();
  dropRecords = 0;
  droppedInDropRecords = 0;
  end: { records: number; dropped: number } | undefined;

  add(r: TraceRecord): void {
    if (r.kind === 'header') {
      this.header = r;
      return;
    }
    this.records++;
    this.first ??= r.t;
    if (r.t > this.last) this.last = r.t;
    this.byKind.set(r.kind, (this.byKind.get(r.kind) ?? 0) + 1);
    switch (r.kind) {
      case 'msg': {
        let c = this.byCommand.get(r.command);
        if (!c) this.byCommand.set(r.command, (c = { clientCmds: 0, serverCmds: 0, posted: 0, replies: 0, errors: 0, bytes: 0 }));
        if (r.type === 'reply') {
          c.replies++;
          if (r.error) c.errors++;
        } else if (r.dir === 'in') c.clientCmds++;
        else c.serverCmds++;
        if (r.type === 'command' && r.noReply) c.posted++;
        c.bytes += r.size;
        break;
      }
      case 'irq': {
        let m = this.irqs.get(r.irq);
        if (!m) this.irqs.set(r.irq, (m = new Map()));
        m.set(r.outcome, (m.get(r.outcome) ?? 0) + 1);
        break;
      }
      case 'fault': {
        const key = `${r.rule}\t${r.action}`;
        this.faults.set(key, (this.faults.get(key) ?? 0) + 1);
        break;
      }
      case 'drop':
        this.dropRecords++;
        this.droppedInDropRecords += r.count;
        break;
      case 'end':
        this.noteEnd(r);
        break;
    }
  }

  /** The end record, also when the selection leaves it out: it says whether the trace is complete. */
  noteEnd(r: { records: number; dropped: number }): void {
    this.end = { records: r.records, dropped: r.dropped };
  }

  /** truncated: the file ends inside a record; limited: reading stopped at --limit, before the end. */
  render(opts: { truncated?: { bytes: number }; limited?: boolean } = {}): string {
    const out: string[] = [];
    if (this.header) out.push(headerText(this.header));
    const span = this.first === undefined ? 0 : this.last - this.first;
    out.push(`${this.records} records over ${(span / 1e6).toFixed(6)} s` +
      (this.first !== undefined ? ` (${formatTime(this.first).trim()} to ${formatTime(this.last).trim()})` : ''));
    if (opts.truncated) out.push(`the file ends inside a record (${opts.truncated.bytes} bytes ignored): the recorder was stopped without close()`);
    else if (opts.limited) out.push('(the first records only: --limit)');
    else if (!this.end && this.header) out.push('no end record: the recorder did not close the trace (killed?); what it had not written yet is missing');

    const kinds = [...this.byKind.entries()].sort((a, b) => b[1] - a[1]);
    out.push('', table(['kind', 'records'], kinds, ['l', 'r']));

    if (this.byCommand.size) {
      const rows = [...this.byCommand.entries()].sort((a, b) => a[0] - b[0]).map(([cmd, c]) =>
        [commandName(cmd), c.clientCmds, c.serverCmds, c.posted, c.replies, c.errors, c.bytes]);
      out.push('', table(['command', 'from client', 'from irqlab', 'posted', 'replies', 'errors', 'bytes'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']));
    }

    if (this.irqs.size) {
      const outcomes = [...new Set([...this.irqs.values()].flatMap((m) => [...m.keys()]))].sort();
      const rows = [...this.irqs.entries()].sort().map(([k, m]) => {
        const counts = outcomes.map((o) => m.get(o) ?? 0);
        return [k, ...counts, counts.reduce((a, b) => a + b, 0)];
      });
      out.push('', table(['interrupts', ...outcomes, 'total'], rows, ['l', ...outcomes.map(() => 'r' as const), 'r']));
    }

    if (this.faults.size) {
      const rows = [...this.faults.entries()].sort().map(([k, n]) => [...k.split('\t'), n]);
      out.push('', table(['fault rule', 'action', 'applied'], rows, ['l', 'l', 'r']));
    }

    const dropped = this.end?.dropped ?? this.droppedInDropRecords;
    out.push('', `dropped: ${dropped} records${this.dropRecords ? ` (${this.dropRecords} gaps)` : ''}${dropped ? ' -- the disk did not keep up; see the drop records for where' : ''}`);
    return out.join('\n') + '\n';
  }
}
