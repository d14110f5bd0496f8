// A module loader hook for profiling irqlab under tsx: it keeps a copy of the
// JavaScript that tsx made of each .ts file (inline source map included) in
// $IRQLAB_PROFILE_SOURCES, so that positions in a .cpuprofile, which are
// positions in that generated code, can be mapped back to file:line.
// Load it after tsx:  node --import tsx --import ./bench/profile-hook.mjs ...
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// This file is both the registration (main thread) and the hooks (loader thread).
if (isMainThread) {
  const dir = process.env.IRQLAB_PROFILE_SOURCES;
  if (!dir) throw new Error('profile-hook: set IRQLAB_PROFILE_SOURCES to a folder');
  register(import.meta.url, { data: { dir } });
}

let dir;

export function initialize(data) {
  dir = data.dir;
  mkdirSync(dir, { recursive: true });
}

/** Where the generated code of `url` is kept (bench/profile.ts reads it back by the same name). */
function generatedPath(folder, url) {
  return join(folder, fileURLToPath(url).replace(/[^A-Za-z0-9._-]/g, '_') + '.js');
}

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (url.startsWith('file:') && /\.[cm]?ts$/.test(url) && result.source) {
    writeFileSync(generatedPath(dir, url), typeof result.source === 'string' ? result.source : Buffer.from(result.source).toString('utf8'));
  }
  return result;
}
