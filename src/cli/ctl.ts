// irqlab ctl PATH COMMAND: drive a running device through its control socket.
import { ControlClient } from '../control/client.ts';
import { parseRuleWords } from '../control/rule-syntax.ts';
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

const help = `usage: irqlab ctl CONTROL_SOCKET COMMAND

commands:
  info                               the device, its client
  fire msix|msi|ims|intx|err|req [N] raise an interrupt with no cause (spurious); N must exist
  complete QUEUE [N]                 complete N work items on a queue
  fault add RULE                     e.g. fault add irq ims 3 drop count=1
                                          fault add read 0 0x28 all-ones
                                          fault add command REGION_READ delay=6000
                                          fault add '{"on":"irq","kind":"msix","action":"drop"}'
  fault list | fault clear | fault rm ID
  remove                             surprise removal (all-ones, then REQ)
  aer [bit=N] [fatal]                an uncorrectable error: AER status, then ERR
  stats                              interrupts by outcome, faults applied, guest errors, session counters
  guest-errors clear                 show the guest errors and count from zero again

The control socket is the one given to irqlab serve/boot --control PATH.
`;

export async function run(argv: string[]): Promise<number> {
  const [path, cmd, ...rest] = argv;
  if (!path || !cmd || path === '--help' || path === '-h') {
    process.stdout.write(help);
    return path === '--help' || path === '-h' ? 0 : 2;
  }
  const c = await ControlClient.connect(path);
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    switch (cmd) {
      case 'info':
        out(JSON.stringify(await c.info(), null, 2));
        break;
      case 'fire':
        out(await c.fire(rest[0] as never, rest[1] ?? 0));
        break;
      case 'complete':
        out((await c.complete(Number(rest[0]), rest[1] ? Number(rest[1]) : 1)).join(' '));
        break;
      case 'fault': {
        const [sub, ...words] = rest;
        if (sub === 'add') out(await c.addFault(parseRuleWords(words)));
        else if (sub === 'list') {
          const list = await c.listFaults();
          out(list.length ? table(['id', 'rule', 'seen', 'applied', 'state'], list.map((f) => [f.id, f.description, f.seen, f.applied, f.expired ? 'expired' : 'active'])) : 'no fault rules');
        } else if (sub === 'clear') out(`cleared ${await c.clearFaults()}`);
        else if (sub === 'rm' && words[0]) await c.removeFault(words[0]);
        else throw new Error('fault add RULE | fault list | fault clear | fault rm ID');
        break;
      }
      case 'remove':
        await c.surpriseRemove();
        out('removed');
        break;
      case 'aer': {
        const bit = rest.find((w) => w.startsWith('bit='));
        await c.aer({ bit: bit ? Number(bit.slice(4)) : undefined, fatal: rest.includes('fatal') });
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
        if (rest[0] !== 'clear') throw new Error('guest-errors clear');
        out(guestErrorText(await c.clearGuestErrors()));
        out('(counting from zero again)');
        break;
      default:
        process.stderr.write(`irqlab ctl: unknown command "${cmd}"\n\n${help}`);
        return 2;
    }
    return 0;
  } finally {
    c.close();
  }
}
