// `irqlab serve` in its own process, as a user runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const irqlabBin = new URL('../../src/cli/bin.mjs', import.meta.url).pathname;

export interface Served {
  socket: string;
  proc: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

export async function spawnServe(device: string | undefined, extra: string[] = []): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'irqlab-serve-'));
  const socket = join(dir, 'dev.sock');
  const proc = spawn(process.execPath, [irqlabBin, 'serve', ...(device ? [device] : []), '--socket', socket, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', (l) => (l === `listening on ${socket}` ? resolve() : reject(new Error(`unexpected: ${l}`))));
    proc.once('exit', (code) => reject(new Error(`irqlab serve exited ${code}: ${err}`)));
  });
  return {
    socket, proc, stderr: () => err,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
