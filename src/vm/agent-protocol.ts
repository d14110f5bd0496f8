// The wire format of the guest agent (qemu/agent/agent.sh, whose header describes it).
// Pure functions over bytes: requests out, events in.

export const AGENT_PROTOCOL = 1;

export type AgentOp = 'run' | 'read' | 'write' | 'insmod';

export interface AgentRequest {
  id: number;
  op: AgentOp;
  /** Whole seconds after which the agent kills the operation; 0: never. */
  timeoutS: number;
  arg1?: string;
  arg2?: string;
  data?: Uint8Array;
}

export interface AgentReply {
  id: number;
  status: number;
  stdout: Buffer;
  stderr: Buffer;
}

export type AgentEvent =
  | { kind: 'ready'; protocol: number; release: string }
  | { kind: 'reply'; reply: AgentReply }
  /** The agent rejected a request header, or a reply arrived damaged. */
  | { kind: 'error'; message: string; id?: number }
  /** Any line that is not part of the protocol. */
  | { kind: 'noise'; line: string };

export function encodeRequest(r: AgentRequest): Buffer {
  const arg = (s: string | undefined): string => (s ? Buffer.from(s, 'utf8').toString('base64') : '-');
  const data = r.data && r.data.length > 0 ? Buffer.from(r.data).toString('base64') + '\n' : '';
  const header = `${r.id} ${r.op} ${r.timeoutS} ${arg(r.arg1)} ${arg(r.arg2)} ${data.length}\n`;
  return Buffer.from(header + data, 'latin1');
}

const BASE64_LINE = /^[A-Za-z0-9+/]*=*$/;

interface PartialReply {
  id: number;
  status: number;
  section: 'stdout' | 'stderr';
  stdout: string[];
  stderr: string[];
  damaged: boolean;
}

/** Splits the agent's byte stream into lines and lines into events. */
export class AgentParser {
  #pending = '';
  #reply: PartialReply | undefined;

  /** Feeds bytes; returns the events completed by them. */
  push(chunk: Buffer): AgentEvent[] {
    // latin1 maps each byte to one char: protocol lines are ASCII, noise stays intact.
    const text = this.#pending + chunk.toString('latin1');
    const events: AgentEvent[] = [];
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      this.#line(text.slice(start, text[nl - 1] === '\r' ? nl - 1 : nl), events);
      start = nl + 1;
    }
    this.#pending = text.slice(start);
    return events;
  }

  /** True while a reply has begun but not ended (the agent is sending it). */
  get inReply(): boolean {
    return this.#reply !== undefined;
  }

  #line(line: string, events: AgentEvent[]): void {
    const r = this.#reply;
    if (!line.startsWith('.irqlab-')) {
      if (!r) events.push({ kind: 'noise', line });
      else if (!BASE64_LINE.test(line)) r.damaged = true;
      else r[r.section].push(line);
      return;
    }
    const [marker, a, b] = line.split(' ');
    if (marker === '.irqlab-stderr' && r) {
      r.section = 'stderr';
      return;
    }
    if (marker === '.irqlab-end' && r && Number(a) === r.id) {
      this.#reply = undefined;
      if (r.damaged) {
        events.push({ kind: 'error', id: r.id, message: `the reply to request ${r.id} arrived damaged` });
      } else {
        const stdout = Buffer.from(r.stdout.join(''), 'base64');
        const stderr = Buffer.from(r.stderr.join(''), 'base64');
        events.push({ kind: 'reply', reply: { id: r.id, status: r.status, stdout, stderr } });
      }
      return;
    }
    // Anything else inside a reply means the reply was cut short (the agent restarted).
    if (r) {
      this.#reply = undefined;
      events.push({ kind: 'error', id: r.id, message: `the reply to request ${r.id} was cut short` });
    }
    if (marker === '.irqlab-reply' && isUint(a) && isUint(b)) {
      this.#reply = { id: Number(a), status: Number(b), section: 'stdout', stdout: [], stderr: [], damaged: false };
    } else if (marker === '.irqlab-ready' && isUint(a)) {
      events.push({ kind: 'ready', protocol: Number(a), release: b ?? '' });
    } else if (marker === '.irqlab-error') {
      events.push({ kind: 'error', message: line.slice(marker.length + 1) });
    } else {
      events.push({ kind: 'noise', line });
    }
  }
}

function isUint(s: string | undefined): s is string {
  return s !== undefined && /^[0-9]+$/.test(s);
}
