// The host side of the guest agent channel (a virtio-serial port or ttyS1): waits for
// the agent's banner and sends one request at a time, matching replies by id.

import type { Socket } from 'node:net';
import { AGENT_PROTOCOL, AgentParser, encodeRequest, type AgentEvent, type AgentReply, type AgentRequest } from './agent-protocol.ts';
import { VmError } from './errors.ts';
import { seconds } from './serial-console.ts';

const CLOSE_GRACE_MS = 1000;

/** Time allowed beyond the operation's own timeout for the agent to send its reply. */
const REPLY_SLACK_MS = 10_000;

export interface AgentHello {
  protocol: number;
  /** The guest's `uname -r`. */
  release: string;
}

export class AgentError extends VmError {
  override name = 'AgentError';
  /** The guest never said hello within the boot limit (ready() timed out). */
  bootTimeout = false;
}

interface Pending {
  id: number;
  what: string;
  resolve: (r: AgentReply) => void;
  reject: (e: Error) => void;
}

export class AgentClient {
  #socket: Socket;
  #parser = new AgentParser();
  #nextId = 1;
  /** Requests run one after another: the agent reads the next only after replying. */
  #queue: Promise<unknown> = Promise.resolve();
  #pending: Pending | undefined;
  #hello: AgentHello | undefined;
  #helloWaiters = new Set<{ resolve: (h: AgentHello) => void; reject: (e: Error) => void }>();
  #closed: Error | undefined;
  #lastActivity = 0;
  /** Says where the guest is, for error messages (the console's last lines). */
  #context: () => string;

  constructor(socket: Socket, opts: { context?: () => string } = {}) {
    this.#socket = socket;
    this.#context = opts.context ?? (() => '');
    socket.on('data', (chunk: Buffer) => {
      this.#lastActivity = Date.now();
      for (const ev of this.#parser.push(chunk)) this.#event(ev);
    });
    socket.on('error', () => {}); // 'close' follows and says it
    // The channel closes when QEMU exits; whoever watches QEMU usually has a better
    // reason to give (its exit status, a stop), so wait a moment for it.
    socket.on('close', () => {
      setTimeout(() => this.close(this.#error('the guest agent channel closed')), CLOSE_GRACE_MS).unref();
    });
  }

  get hello(): AgentHello | undefined {
    return this.#hello;
  }

  /** A request is in flight (the agent reads no other until it has answered). */
  get busy(): boolean {
    return this.#pending !== undefined;
  }

  /** Resolves when the agent has printed its banner. */
  ready(timeoutMs: number): Promise<AgentHello> {
    if (this.#hello) return Promise.resolve(this.#hello);
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (h: AgentHello) => {
          clearTimeout(timer);
          resolve(h);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.#helloWaiters.delete(w);
        const err = this.#error(`the guest did not reach the agent within ${seconds(timeoutMs)}`);
        err.bootTimeout = true;
        reject(err);
      }, timeoutMs);
      this.#helloWaiters.add(w);
    });
  }

  /**
   * Sends one request once the previous ones are answered. timeoutMs bounds the
   * operation in the guest (the agent kills it) and, with some slack for the reply,
   * the wait here.
   */
  call(req: Omit<AgentRequest, 'id' | 'timeoutS'>, timeoutMs: number, what: string): Promise<AgentReply> {
    const run = (): Promise<AgentReply> => this.#send(req, timeoutMs, what);
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Fails the request in flight and every later one with reason. */
  close(reason: Error): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const w of this.#helloWaiters) w.reject(reason);
    this.#helloWaiters.clear();
    this.#pending?.reject(reason);
    this.#pending = undefined;
    this.#socket.destroy();
  }

  #send(req: Omit<AgentRequest, 'id' | 'timeoutS'>, timeoutMs: number, what: string): Promise<AgentReply> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (!this.#hello) return Promise.reject(new AgentError(`${what}: the agent is not ready`));
    const id = this.#nextId++;
    const timeoutS = timeoutMs > 0 ? Math.ceil(timeoutMs / 1000) : 0;
    return new Promise<AgentReply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        if (this.#pending?.id === id) this.#pending = undefined;
      };
      this.#pending = {
        id,
        what,
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      if (timeoutS > 0) {
        // The guest may still be sending a large reply when the slack runs out: wait
        // as long as bytes keep coming.
        const expire = (): void => {
          if (this.#parser.inReply && Date.now() - this.#lastActivity < REPLY_SLACK_MS) {
            timer = setTimeout(expire, REPLY_SLACK_MS);
            return;
          }
          // A late reply is dropped by its id, so the channel stays usable.
          this.#pending?.reject(
            this.#error(`${what}: the guest agent did not answer within ${seconds(timeoutS * 1000 + REPLY_SLACK_MS)}`),
          );
        };
        timer = setTimeout(expire, timeoutS * 1000 + REPLY_SLACK_MS);
      }
      this.#socket.write(encodeRequest({ ...req, id, timeoutS }));
    });
  }

  #event(ev: AgentEvent): void {
    switch (ev.kind) {
      case 'ready': {
        const restarted = this.#hello !== undefined;
        this.#hello = { protocol: ev.protocol, release: ev.release };
        if (ev.protocol !== AGENT_PROTOCOL) {
          this.close(new AgentError(`the guest agent speaks protocol ${ev.protocol}, this host ${AGENT_PROTOCOL}: rebuild the initramfs`));
          return;
        }
        for (const w of this.#helloWaiters) w.resolve(this.#hello);
        this.#helloWaiters.clear();
        if (restarted && this.#pending) {
          this.#pending.reject(this.#error(`${this.#pending.what}: the guest agent restarted before it answered`));
        }
        return;
      }
      case 'reply':
        if (this.#pending?.id === ev.reply.id) this.#pending.resolve(ev.reply);
        return;
      case 'error':
        if (this.#pending && (ev.id === undefined || ev.id === this.#pending.id)) {
          this.#pending.reject(this.#error(`${this.#pending.what}: ${ev.message}`));
        }
        return;
      case 'noise':
        return;
    }
  }

  #error(message: string): AgentError {
    const context = this.#context();
    return new AgentError(context ? `${message}; ${context}` : message);
  }
}
