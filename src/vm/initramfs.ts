// The initramfs for one boot: the lab's busybox /init plus our agent, its config and
// the caller's kernel modules, under /irqlab.

import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VmError } from './errors.ts';
import type { Lab } from './lab.ts';

/** Where the guest finds the modules given to Vm.start (agent.sh's insmod knows it too). */
export const GUEST_MODULE_DIR = '/irqlab/modules';

const AGENT_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../qemu/agent');

export interface InitramfsContent {
  /** Module file name -> host path. */
  modules: Map<string, string>;
  /** Shell variables for /irqlab/config, sourced by init.sh. */
  config: Record<string, string>;
  /** Other files: guest path -> host path (modes kept). */
  files?: Map<string, string>;
  /** Files written from text: guest path -> contents. */
  texts?: Map<string, string>;
  /** Prebuilt archives (cpio.gz) appended as they are: the kernel unpacks them in turn. */
  archives?: string[];
}

/** Builds <dir>/initramfs.cpio.gz and returns its path. */
export async function buildInitramfs(lab: Lab, dir: string, content: InitramfsContent): Promise<string> {
  const irqlab = join(dir, 'irqlab');
  mkdirSync(join(irqlab, 'modules'), { recursive: true });
  for (const script of ['init.sh', 'agent.sh']) {
    copyFileSync(join(AGENT_DIR, script), join(irqlab, script));
    chmodSync(join(irqlab, script), 0o755); // /init execs /irqlab/init.sh as PID 1
  }
  const config = Object.entries(content.config).map(([k, v]) => `${k}=${shellQuote(v)}\n`);
  writeFileSync(join(irqlab, 'config'), config.join(''));
  for (const [name, file] of content.modules) copyFileSync(file, join(irqlab, 'modules', name));
  // Everything else lands where the guest expects it, laid over the archive's root.
  const overlay = join(dir, 'overlay');
  mkdirSync(overlay, { recursive: true });
  for (const [guest, host] of content.files ?? []) {
    mkdirSync(dirname(join(overlay, guest)), { recursive: true });
    copyFileSync(host, join(overlay, guest));
  }
  for (const [guest, text] of content.texts ?? []) {
    mkdirSync(dirname(join(overlay, guest)), { recursive: true });
    writeFileSync(join(overlay, guest), text);
  }

  const out = join(dir, 'initramfs.cpio.gz');
  try {
    // build.sh [--busybox PATH] [--overlay DIR] OUT [SRC[:DEST]]...: our folder becomes /irqlab.
    await promisify(execFile)(lab.initramfs.builder, ['--busybox', lab.busybox, '--overlay', overlay, out, `${irqlab}:/irqlab`]);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new VmError(`the initramfs builder ${lab.initramfs.builder} failed: ${(e.stderr || e.message).trim()}`);
  }
  for (const part of content.archives ?? []) appendFileSync(out, readFileSync(part));
  return out;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
