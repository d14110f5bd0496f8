// Test helpers: a real server on a real socket in a temp dir, and clients.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VfioUserServer, type ServerOptions } from '../../src/server/server.ts';
import { ImsQueueDevice } from '../../src/devices/ims-queue.ts';
import type { PciFunction } from '../../src/pci/function.ts';
import { VfioUserClient, type ClientOptions } from '../../src/client/index.ts';
import { VfioError, Region } from '../../src/protocol/index.ts';
import * as R from '../../src/pci/regs.ts';

export interface Harness<D extends PciFunction = ImsQueueDevice> {
  dir: string;
  socket: string;
  device: D;
  server: VfioUserServer;
  logs: string[];
  connect(opts?: ClientOptions): Promise<VfioUserClient>;
  close(): void;
}

export function startServer<D extends PciFunction = ImsQueueDevice>(device?: D, opts: Partial<ServerOptions> = {}): Harness<D> {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-test-'));
  const socket = join(dir, 'dev.sock');
  const dev = (device ?? new ImsQueueDevice()) as D;
  const logs: string[] = [];
  const server = new VfioUserServer(dev, { socketPath: socket, log: (l) => logs.push(l), ...opts }).listen();
  const clients: VfioUserClient[] = [];
  return {
    dir, socket, device: dev, server, logs,
    async connect(o) {
      const c = await VfioUserClient.connect(socket, o);
      clients.push(c);
      return c;
    },
    close() {
      for (const c of clients) c.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The errno a request failed with (0 when it succeeded); other errors are thrown. */
export async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (e) {
    if (e instanceof VfioError) return e.errno;
    throw e;
  }
}

/**
 * A served device and a client that set it up as a driver would: memory
 * decoding and bus mastering on, 64 KiB of its memory mapped at 0x100000
 * (shared by a descriptor with `shareFd`), so the device can send IMS messages.
 */
export async function startDriven<D extends PciFunction = ImsQueueDevice>(t: { teardown(fn: () => void): void }, device?: D, opts: { shareFd?: boolean } = {}): Promise<{ h: Harness<D>; c: VfioUserClient }> {
  const h = startServer(device);
  t.teardown(() => h.close());
  const c = await h.connect();
  await c.write16(Region.CONFIG, R.PCI_COMMAND, R.PCI_COMMAND_MEMORY | R.PCI_COMMAND_MASTER);
  await c.dmaMap(0x100000n, 0x10000, { shareFd: opts.shareFd });
  return { h, c };
}
