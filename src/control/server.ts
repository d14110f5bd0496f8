// The control socket: a running device (irqlab serve / boot --control PATH)
// answers requests from `irqlab ctl` or any msgpack client. Bad requests get
// an error response; the device keeps running whatever arrives.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, unlinkSync, existsSync, lstatSync } from 'node:fs';
import { packr, plain, MsgpackStream, type ControlRequest, type ControlResponse } from './protocol.ts';
import { ops, type ControlTarget } from './ops.ts';

export class ControlServer {
  private server: Server;
  private sockets = new Set<Socket>();

  private constructor(readonly path: string, server: Server) {
    this.server = server;
  }

  static async listen(path: string, target: ControlTarget, log: (line: string) => void = () => {}): Promise<ControlServer> {
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
      unlinkSync(path);
    }
    let cs: ControlServer;
    const server = createServer((sock) => cs.serve(sock, target, log));
    cs = new ControlServer(path, server);
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(path, 0o600);
    server.on('error', (e) => log(`control socket: ${e.message}`));
    return cs;
  }

  private serve(sock: Socket, target: ControlTarget, log: (line: string) => void): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    const stream = new MsgpackStream();
    sock.on('data', (chunk: Buffer) => {
      let values: unknown[];
      try {
        values = stream.push(chunk);
      } catch (err) {
        log(`control: dropping a client that sent bad msgpack: ${(err as Error).message}`);
        sock.destroy();
        return;
      }
      for (const v of values) sock.write(packr.pack(this.answer(v, target, log)));
    });
  }

  private answer(v: unknown, target: ControlTarget, log: (line: string) => void): ControlResponse {
    const req = v as Partial<ControlRequest>;
    const id = typeof req?.id === 'number' ? req.id : -1;
    if (!req || typeof req !== 'object' || typeof req.op !== 'string') {
      return { id, ok: false, error: 'a request is {id, op, args}' };
    }
    const op = ops[req.op];
    if (!op) return { id, ok: false, error: `unknown op "${req.op}"; ops: ${Object.keys(ops).join(', ')}` };
    try {
      const result = plain(op(target, (req.args ?? {}) as Record<string, unknown>));
      return { id, ok: true, result };
    } catch (err) {
      log(`control: ${req.op}: ${(err as Error).message}`);
      return { id, ok: false, error: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
