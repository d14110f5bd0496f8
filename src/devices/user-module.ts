// Loading a user's module (a device file, a scenario script): a missing file,
// a syntax error or an exception at its top level is reported as the user's,
// with their file and line, never with irqlab's own paths.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'node:module';
import { userFrame, withoutOwnPaths } from '../text/user-code.ts';

/** An exception thrown by a user's code; the message says where. */
export class UserCodeError extends Error {
  constructor(what: string, readonly original: unknown) {
    const e = original as Error;
    const frame = userFrame(original);
    super(`${what}: ${withoutOwnPaths(e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(original))}${frame ? ` (at ${frame})` : ''}`);
  }
}

let hooked = false;

/**
 * Imports the module at `file` (TypeScript or JavaScript). A .ts file in a
 * folder whose package.json does not say "type": "module" is CommonJS to
 * Node, and importing it from here fails ("Cannot require() ES Module ... in
 * a cycle"): such a file is loaded again as an ES module (esm-hooks.mjs), so
 * a device file works in any folder. A module that is CommonJS on purpose is
 * unwrapped to its exports.
 */
export async function importUserModule(file: string, what: string): Promise<Record<string, unknown> & { default?: unknown }> {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`no ${what} at ${file}${path !== file ? ` (${path})` : ''}`);
  if (!statSync(path).isFile()) throw new Error(`${file} is not a file (a ${what} is a .ts or .js file)`);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ERR_REQUIRE_CYCLE_MODULE' && code !== 'ERR_REQUIRE_ESM') throw new UserCodeError(`cannot load ${what} ${file}`, err);
    if (!hooked) {
      register(new URL('./esm-hooks.mjs', import.meta.url));
      hooked = true;
    }
    try {
      mod = await import(`${pathToFileURL(path).href}?irqlab-esm`);
    } catch (again) {
      throw new UserCodeError(`cannot load ${what} ${file}`, again);
    }
  }
  const d = mod.default as { __esModule?: boolean; default?: unknown } | undefined;
  if (d && typeof d === 'object' && d.__esModule) return { ...(d as Record<string, unknown>) };
  return mod;
}
