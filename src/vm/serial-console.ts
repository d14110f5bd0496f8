// The kernel console (ttyS0): keeps its text, optionally echoes it to our stdout, and
// lets callers wait for a line to appear.

import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';

/** Text kept in memory; older text is dropped (offsets stay absolute). */
const KEEP_CHARS = 8 * 1024 * 1024;

// ECMA-48: CSI sequences (ESC [ params final), charset selection (ESC ( B), and
// two-character escapes such as ESC c (full reset).
const ESCAPE = '\\x1b(?:\\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-Z\\\\-_a-z0-9=>])';
const ESCAPES = new RegExp(ESCAPE, 'g');
const ESCAPE_AT_END = new RegExp(`^${ESCAPE}`);

export interface WaitForLogOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Absolute offset to search from (see SerialConsole.length); default 0: all text. */
  from?: number;
}

interface Waiter {
  re: RegExp;
  from: number;
  resolve: (m: RegExpMatchArray) => void;
  reject: (e: Error) => void;
}

export class SerialConsole {
  #text = '';
  /** Absolute offset of #text[0]. */
  #base = 0;
  #decoder = new StringDecoder('utf8');
  #carry = '';
  #waiters = new Set<Waiter>();
  #closed: Error | undefined;
  #echo: NodeJS.WritableStream | undefined;
  #listeners = new Set<(text: string) => void>();

  constructor(opts: { echo?: NodeJS.WritableStream } = {}) {
    this.#echo = opts.echo;
  }

  #socket: Socket | undefined;

  attach(socket: Socket): void {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    // A reset when QEMU dies must not become an uncaught 'error'; QEMU's exit is
    // reported by whoever watches the process.
    socket.on('error', () => {});
  }

  /** Feeds console bytes (exported for tests). */
  push(chunk: Buffer): void {
    // The 8250 console sends CRLF: keep plain newlines. SeaBIOS sends terminal resets
    // and screen clears: drop escape sequences, which would also reset the terminal
    // of someone watching with console 'inherit'.
    let text = this.#carry + this.#decoder.write(chunk).replaceAll('\r', '');
    this.#carry = '';
    const esc = text.lastIndexOf('\x1b');
    if (esc >= 0 && text.length - esc < 32 && !ESCAPE_AT_END.test(text.slice(esc))) {
      this.#carry = text.slice(esc); // a sequence cut by the chunk boundary
      text = text.slice(0, esc);
    }
    text = text.replace(ESCAPES, '');
    if (text === '') return;
    this.#echo?.write(text);
    this.#text += text;
    if (this.#text.length > KEEP_CHARS) {
      const drop = this.#text.length - KEEP_CHARS / 2;
      this.#text = this.#text.slice(drop);
      this.#base += drop;
    }
    for (const l of this.#listeners) l(text);
    for (const w of this.#waiters) this.#check(w);
  }

  /** Sends keystrokes to the console (the guest's ttyS0 input). */
  write(data: string | Uint8Array): void {
    if (this.#closed || !this.#socket) throw this.#closed ?? new Error('the console is not connected');
    this.#socket.write(data);
  }

  /** All console text kept so far. */
  get text(): string {
    return this.#text;
  }

  /** Absolute length of everything received: a mark for waitFor's `from`. */
  get length(): number {
    return this.#base + this.#text.length;
  }

  /** The last n lines, for error messages. */
  tail(n = 20): string {
    const lines = this.#text.trimEnd().split('\n');
    return lines.slice(-n).join('\n');
  }

  /** Calls fn with each new piece of text. */
  onText(fn: (text: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves with the first match of re in the complete lines from `from` on. */
  waitFor(re: RegExp, opts: WaitForLogOptions = {}): Promise<RegExpMatchArray> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    // A global or sticky regex keeps state between exec() calls: use a plain copy.
    const plain = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        re: plain,
        from: opts.from ?? 0,
        resolve: (m) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          reject(e);
        },
      };
      if (this.#check(w)) return;
      if (this.#closed) return w.reject(this.#closed);
      this.#waiters.add(w);
      timer = setTimeout(() => {
        w.reject(
          new Error(
            `${re} did not appear on the guest console within ${seconds(timeoutMs)}; ` +
              `last console lines:\n${this.tail()}`,
          ),
        );
      }, timeoutMs);
    });
  }

  /** No more text will come: pending waits fail with reason. */
  close(reason: Error): void {
    this.#closed ??= reason;
    this.#text += this.#decoder.end();
    for (const w of [...this.#waiters]) if (!this.#check(w)) w.reject(reason);
  }

  // Only complete lines are searched: a chunk may end inside a line, and /x: (\w+)/
  // must not match half a word.
  #check(w: Waiter): boolean {
    const start = Math.max(0, w.from - this.#base);
    const end = this.#closed ? this.#text.length : this.#text.lastIndexOf('\n') + 1;
    if (end <= start) return false;
    const m = w.re.exec(this.#text.slice(start, end));
    if (!m) return false;
    m.index = (m.index ?? 0) + start + this.#base;
    w.resolve(m);
    return true;
  }
}

export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
