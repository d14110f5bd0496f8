// Paths the user names on the command line, checked before anything starts,
// so a typo says which directory is missing instead of "bind ... ENOENT".
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './usage.ts';

/** The folder that will hold `path` (a socket, a trace file) must exist. */
export function parentDirExists(path: string, option: string): void {
  const dir = dirname(resolve(path));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UsageError(`${option} ${path}: the directory ${dir} does not exist`);
  }
  if (!isDir) throw new UsageError(`${option} ${path}: ${dir} is not a directory`);
}
