// The control socket: a running device (irqlab serve / boot --control PATH)
// answers requests from `irqlab ctl` or any msgpack client. Bad requests get
// an error response; the device keeps running whatever arrives.
import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { listenUnix, closeFd } from '../../ffi/index.ts';
import { plain, msgpackChannel, type ControlRequest, type ControlResponse } from './protocol.ts';
import { ops, type ControlTarget } from './ops.ts';

export class ControlServer {
  private server: Server;
  private sockets = new Set<Socket>();

  private constructor(readonly path: string, server: Server) {
    this.server = server;
  }

  /**
   * Listens on `path` the way the vfio-user socket does (ffi's listenUnix: a
   * stale socket replaced, a live listener or another file refused, mode 0600
   * from the start).
   */
  static async listen(path: string, target: ControlTarget, log: (line: string) => void = () => {}): Promise<ControlServer> {
    const fd = listenUnix(path);
    let cs: ControlServer;
    const server = createServer((sock) => cs.serve(sock, target, log));
    cs = new ControlServer(path, server);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd }, () => resolve());
      });
    } catch (err) {
      closeFd(fd);
      unlinkSync(path);
      throw err;
    }
    server.on('error', (e) => log(`control socket: ${e.message}`));
    return cs;
  }

  private serve(sock: Socket, target: ControlTarget, log: (line: string) => void): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    const channel = msgpackChannel(sock, (v) => channel.send(this.answer(v, target, log)), (err) => {
      log(`control: dropping a client that sent bad msgpack: ${err.message}`);
      sock.destroy();
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
