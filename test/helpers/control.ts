// A served device with its control socket and a client of it.
import { join } from 'node:path';
import { ControlServer } from '../../src/control/server.ts';
import { ControlClient } from '../../src/control/client.ts';
import { startServer } from './server.ts';

export async function startControlled(t: { teardown(fn: () => void | Promise<void>): void }) {
  const h = startServer();
  const path = join(h.dir, 'control.sock');
  const cs = await ControlServer.listen(path, { device: h.device, server: h.server });
  const ctl = await ControlClient.connect(path);
  t.teardown(async () => {
    ctl.close();
    await cs.close();
    h.close();
  });
  return { h, path, ctl };
}
