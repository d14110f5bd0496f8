// irqlab ctl PATH COMMAND: drive a running device through its control socket.
import { ControlClient } from '../control/client.ts';
import { parseRuleWords } from '../control/rule-syntax.ts';
import { parseRule } from '../faults/rules.ts';
import { IRQ_KINDS } from '../irq/events.ts';
import { table } from '../text/table.ts';
import { GUEST_ERROR_KINDS, type GuestErrorKind, type GuestErrorSummary } from '../device/guest-errors.ts';

/** Guest errors for people: counts by kind with what each means, then the last few. */
function guestErrorText(g: GuestErrorSummary): string {
  const kinds = Object.entries(g.counts) as [GuestErrorKind, number][];
  if (kinds.length === 0) return 'no guest errors';
  const rows = kinds.map(([k, n]) => [k, n, GUEST_ERROR_KINDS[k] ?? '']);
  const last = g.recent.slice(-5).map((r) => `  ${new Date(r.at).toISOString().slice(11, 23)} ${r.kind}: ${r.message}`);
  return `${table(['guest error', 'count', 'what'], rows, ['l', 'r', 'l'])}\n\nlast guest errors:\n${last.join('\n')}`;
}
import { UsageError } from './usage.ts';

export const help = `usage: irqlab ctl CONTROL_SOCKET COMMAND

commands:
  info                               the device (ids in hex), its client, its rules
  fire ${IRQ_KINDS.join('|')} [N]  raise an interrupt with no cause (spurious); N must exist
  complete QUEUE [N]                 complete N work items on a queue (reference device)
  fault add RULE                     e.g. fault add irq ims 3 drop count=1
                                          fault add irq msix every=3 drop
                                          fault add read 0 0x28 all-ones
                                          fault add command REGION_READ delay=6000
                                          fault add '{"on":"irq","kind":"msix","action":"drop"}'
  fault list | fault clear | fault rm ID
  remove                             surprise removal (all-ones, then REQ)
  aer [bit=N] [fatal]                an uncorrectable error: AER status, then ERR
  stats                              interrupts by outcome, faults applied, guest errors, session counters
  guest-errors clear                 show the guest errors and count from zero again

RULE: irq [KIND] [INDEX] ACTION, read|write REGION [OFFSET] ACTION,
command NAME ACTION, dma [read|write] ACTION; then options count=N skip=N
every=N p=P seed=S from=MS to=MS id=NAME. Rules are consulted in the order
they were added: a rule only sees the events the rules before it let through
(fault list shows the order).

The control socket is the one given to irqlab serve/boot/run --control PATH.
`;

const hex = (v: unknown, w = 4) => (typeof v === 'number' ? `0x${v.toString(16).padStart(w, '0')}` : String(v));

/** A non-negative integer argument, as typed (decimal or 0x hex). */
function count(word: string | undefined, what: string, dflt?: number): number {
  if (word === undefined && dflt !== undefined) return dflt;
  if (word === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(word)) throw new UsageError(`${what} must be a number, got ${word === undefined ? 'nothing' : JSON.stringify(word)}`);
  return Number(word);
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  const [path, cmd, ...rest] = argv;
  if (!path || !cmd) {
    process.stderr.write(`irqlab ctl: ${path ? 'which command?' : 'which control socket?'}\n\n${help}`);
    return 2;
  }
  const commands = ['info', 'fire', 'complete', 'fault', 'remove', 'aer', 'stats', 'guest-errors'];
  if (!commands.includes(cmd)) throw new UsageError(`unknown command "${cmd}"; commands: ${commands.join(', ')}`);
  // A rule is checked here before anything is sent: the same checks the device makes.
  const rule = cmd === 'fault' && rest[0] === 'add' ? parseRule(parseRuleWords(rest.slice(1))) : undefined;
  const c = await ControlClient.connect(path);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    switch (cmd) {
      case 'info': {
        const i = await c.info();
        const client = i.client as { pid?: number; uid?: number; since?: string } | null;
        out(table(['', ''], [
          ['device', `${hex(i.vendor)}:${hex(i.device)}${i.name ? ` (${i.name})` : ''}`],
          ...(i.subsystemVendor !== undefined ? [['subsystem', `${hex(i.subsystemVendor)}:${hex(i.subsystem)}`]] : []),
          ...(i.classCode !== undefined ? [['class', hex(i.classCode, 6)]] : []),
          ['socket', String(i.socket ?? '-')],
          ['client', client ? `pid ${client.pid ?? '?'}, uid ${client.uid ?? '?'}, since ${client.since}` : 'none'],
          ['removed', i.removed ? 'yes' : 'no'],
          ['fault rules', String(i.faults)],
        ]).split('\n').slice(2).join('\n'));
        break;
      }
      case 'fire': {
        const [kind, index] = rest;
        out(await c.fire(kind as never, count(index, 'the index', 0)));
        break;
      }
      case 'complete':
        out((await c.complete(count(rest[0], 'the queue'), count(rest[1], 'N', 1))).join(' '));
        break;
      case 'fault': {
        const [sub, ...words] = rest;
        if (sub === 'add') out(await c.addFault(rule!));
        else if (sub === 'list') {
          const list = await c.listFaults();
          if (!list.length) out('no fault rules');
          else {
            out(table(['order', 'id', 'rule', 'seen', 'applied', 'state'], list.map((f) => [f.order, f.id, f.description, f.seen, f.applied, f.expired ? 'expired' : 'active']), ['r', 'l', 'l', 'r', 'r', 'l']));
            if (list.length > 1) out('(consulted in this order: a rule sees only the events the rules above it let through)');
          }
        } else if (sub === 'clear') out(`cleared ${await c.clearFaults()}`);
        else if (sub === 'rm' && words.length === 1) {
          const r = await c.removeFault(words[0]);
          out(`removed ${r.id}: ${r.description} (seen ${r.seen}, applied ${r.applied})`);
        } else throw new UsageError('fault add RULE | fault list | fault clear | fault rm ID');
        break;
      }
      case 'remove':
        await c.surpriseRemove();
        out('removed');
        break;
      case 'aer': {
        const bit = rest.find((w) => w.startsWith('bit='));
        const bad = rest.find((w) => !w.startsWith('bit=') && w !== 'fatal');
        if (bad) throw new UsageError(`aer takes bit=N and fatal, got ${JSON.stringify(bad)}`);
        await c.aer({ bit: bit ? count(bit.slice(4), 'bit') : undefined, fatal: rest.includes('fatal') });
        out('AER error reported');
        break;
      }
      case 'stats': {
        const s = (await c.stats()) as { irqs: Record<string, number>; faults: Record<string, number>; guestErrors: GuestErrorSummary; session: Record<string, number> | null };
        const irqs = Object.entries(s.irqs).map(([k, n]) => [...k.split(':'), n]);
        out(irqs.length ? table(['kind', 'index', 'outcome', 'count'], irqs, ['l', 'r', 'l', 'r']) : 'no interrupts yet');
        const f = Object.entries(s.faults);
        if (f.length) out(`\n${table(['fault', 'applied'], f, ['l', 'r'])}`);
        out(`\n${guestErrorText(s.guestErrors)}`);
        if (s.session) out(`\nsession: ${Object.entries(s.session).map(([k, v]) => `${k} ${v}`).join(', ')}`);
        break;
      }
      case 'guest-errors':
        if (rest[0] !== 'clear') throw new UsageError(`guest-errors takes "clear", got ${rest[0] === undefined ? 'nothing' : JSON.stringify(rest[0])}`);
        out(guestErrorText(await c.clearGuestErrors()));
        out('(counting from zero again)');
        break;
    }
    return 0;
  } finally {
    c.close();
  }
}
