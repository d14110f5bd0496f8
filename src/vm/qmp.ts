// QEMU's machine protocol (QMP) on a UNIX socket QEMU listens on: for what
// only QEMU can do, such as asking the guest to release a device (device_del,
// what QEMU's own REQ handler would do if vfio-user-pci wired it).
import { connect, type Socket } from 'node:net';
import { VmError } from './errors.ts';

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class QmpClient {
  private buf = '';
  private waiters: Waiter[] = [];
  readonly events: { event: string; data?: unknown }[] = [];

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      for (const w of this.waiters.splice(0)) w.reject(new VmError('QEMU closed its QMP socket'));
    });
  }

  static async connect(path: string): Promise<QmpClient> {
    const sock = connect(path);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', (e) => reject(new VmError(`cannot reach QEMU's QMP socket ${path}: ${e.message}`)));
    });
    const q = new QmpClient(sock);
    await q.next(); // the greeting
    await q.execute('qmp_capabilities');
    return q;
  }

  private onData(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      if ('event' in msg) {
        this.events.push(msg as { event: string; data?: unknown });
        continue;
      }
      const w = this.waiters.shift();
      if (!w) continue;
      if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        w.reject(new VmError(`QMP: ${e.desc ?? 'error'} (${e.class ?? 'unknown'})`));
      } else w.resolve(msg.return ?? msg);
    }
  }

  private next(): Promise<unknown> {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Runs one QMP command (they are answered in order). */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const p = this.next();
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    return p;
  }

  close(): void {
    this.sock.destroy();
  }
}
