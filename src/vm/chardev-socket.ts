// A UNIX socket for one QEMU chardev. We listen, QEMU connects as a client at
// startup: the socket exists before QEMU needs it, so no guest output is lost.

import { createServer, type Server, type Socket } from 'node:net';

export class ChardevSocket {
  readonly path: string;
  /** Resolves with QEMU's connection. */
  readonly connection: Promise<Socket>;
  #server: Server;
  #socket: Socket | undefined;

  private constructor(path: string, server: Server, connection: Promise<Socket>) {
    this.path = path;
    this.#server = server;
    this.connection = connection;
    connection.then((s) => (this.#socket = s), () => {});
  }

  static async listen(path: string): Promise<ChardevSocket> {
    const server = createServer();
    const connection = new Promise<Socket>((resolve, reject) => {
      server.once('connection', (s) => {
        // One client only: QEMU. Later connections are refused by closing the server.
        server.close();
        resolve(s);
      });
      server.once('close', () => reject(new Error(`nothing connected to ${path}`)));
    });
    connection.catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        server.on('error', () => {}); // after listen: nothing to do but not crash
        resolve();
      });
    });
    return new ChardevSocket(path, server, connection);
  }

  close(): void {
    this.#server.close();
    this.#socket?.destroy();
  }
}
