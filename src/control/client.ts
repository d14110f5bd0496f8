// A typed client for the control socket (`irqlab/control`).
import { connect, type Socket } from 'node:net';
import { msgpackChannel, type ControlResponse, type MsgpackChannel } from './protocol.ts';
import type { IrqKind, IrqOutcome } from '../irq/events.ts';
import type { FaultRule } from '../faults/rules.ts';
import type { GuestErrorSummary } from '../device/guest-errors.ts';

export class ControlError extends Error {}

export interface FaultStatus {
  id: string;
  description: string;
  seen: number;
  applied: number;
  expired: boolean;
}

export class ControlClient {
  private nextId = 1;
  private waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly channel: MsgpackChannel;

  private constructor(private readonly sock: Socket) {
    const fail = (e?: Error) => {
      for (const w of this.waiting.values()) w.reject(new ControlError(e ? e.message : 'the control socket closed'));
      this.waiting.clear();
    };
    this.channel = msgpackChannel(sock, (v) => {
      const r = v as ControlResponse;
      const w = this.waiting.get(r?.id);
      if (!w) return;
      this.waiting.delete(r.id);
      if (r.ok) w.resolve(r.result);
      else w.reject(new ControlError(r.error));
    }, (err) => {
      fail(new Error(`the control server sent bad msgpack: ${err.message}`));
      sock.destroy();
    });
    sock.on('error', fail);
    sock.on('close', () => fail());
  }

  static async connect(path: string): Promise<ControlClient> {
    const sock = connect(path);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (e) => reject(new ControlError(`cannot reach the control socket ${path}: ${e.message}`)));
    });
    return new ControlClient(sock);
  }

  request<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.channel.send({ id, op, args });
    });
  }

  info(): Promise<Record<string, unknown>> {
    return this.request('info');
  }

  async fire(kind: IrqKind, index: number | string = 0): Promise<IrqOutcome> {
    return (await this.request<{ outcome: IrqOutcome }>('fire', { kind, index })).outcome;
  }

  async complete(queue: number, n = 1): Promise<IrqOutcome[]> {
    return (await this.request<{ outcomes: IrqOutcome[] }>('complete', { queue, n })).outcomes;
  }

  async addFault(rule: FaultRule | Record<string, unknown>): Promise<string> {
    const wire = JSON.parse(JSON.stringify(rule, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
    return (await this.request<{ id: string }>('fault.add', { rule: wire })).id;
  }

  listFaults(): Promise<FaultStatus[]> {
    return this.request('fault.list');
  }

  async removeFault(id: string): Promise<void> {
    await this.request('fault.remove', { id });
  }

  async clearFaults(): Promise<number> {
    return (await this.request<{ cleared: number }>('fault.clear')).cleared;
  }

  async surpriseRemove(opts: { config?: boolean } = {}): Promise<void> {
    await this.request('device.remove', opts);
  }

  async aer(opts: { bit?: number; fatal?: boolean; signal?: boolean } = {}): Promise<void> {
    await this.request('device.aer', opts);
  }

  stats(): Promise<Record<string, unknown>> {
    return this.request('stats');
  }

  /** The guest errors so far (counts by kind, the last few), and counting from zero again. */
  clearGuestErrors(): Promise<GuestErrorSummary> {
    return this.request('guest-errors.clear');
  }

  close(): void {
    this.sock.destroy();
  }
}
