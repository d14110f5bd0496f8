// Builds the benchmark's C programs (the floor server and the load client)
// with the host's gcc into bench/build/, again only when a source changed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(BENCH_DIR);
const SRC_DIR = join(BENCH_DIR, 'c');
export const BUILD_DIR = join(BENCH_DIR, 'build');
export const OUT_DIR = join(BENCH_DIR, 'out');

export const CFLAGS = ['-O2', '-Wall', '-Wextra'];

export interface Programs {
  floor: string;
  client: string;
  /** Programs compiled by this call (empty when all were up to date). */
  rebuilt: string[];
  /** What gcc said about them (warnings), if anything. */
  warnings: string;
}

const mtime = (p: string) => statSync(p).mtimeMs;

export function gccVersion(): string {
  return execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
}

/** Compiles bench/c/NAME.c to bench/build/NAME when it or a header is newer than the binary. */
export function buildPrograms(): Programs {
  mkdirSync(BUILD_DIR, { recursive: true });
  const headers = readdirSync(SRC_DIR).filter((f) => f.endsWith('.h')).map((f) => join(SRC_DIR, f));
  const rebuilt: string[] = [];
  let warnings = '';
  const build = (name: string): string => {
    const src = join(SRC_DIR, `${name}.c`);
    const bin = join(BUILD_DIR, name);
    const newest = Math.max(mtime(src), ...headers.map(mtime));
    if (!existsSync(bin) || mtime(bin) < newest) {
      const r = spawnSync('gcc', [...CFLAGS, '-o', bin, src], { encoding: 'utf8' });
      if (r.error) throw new Error(`cannot run gcc: ${r.error.message}`);
      if (r.status !== 0) throw new Error(`gcc failed on bench/c/${name}.c:\n${r.stderr}`);
      warnings += r.stderr;
      rebuilt.push(name);
    }
    return bin;
  };
  const floor = build('floor');
  const client = build('client');
  return { floor, client, rebuilt, warnings };
}
