// Whose code failed: a user's device, scenario or hook, or irqlab itself.
// Errors for people name the user's file and line and never irqlab's own
// paths (which say nothing to a user and move when irqlab is installed).
import { fileURLToPath } from 'node:url';
import { sep } from 'node:path';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** irqlab's own code: its sources and its libc boundary. */
const OWN = ['src', 'ffi'].map((d) => `${root}${d}${sep}`);

/** irqlab, Node, or a package (tsx, msgpackr...): code a user did not write. */
function isOwn(file: string): boolean {
  return file.startsWith('node:') || file.startsWith('internal/') || OWN.some((p) => file.startsWith(p)) || file.includes(`${sep}node_modules${sep}`);
}

/** "file:line:col" of the first stack frame that is not irqlab's own code (undefined: none). */
export function userFrame(err: unknown): string | undefined {
  const stack = (err as Error | undefined)?.stack;
  if (typeof stack !== 'string') return undefined;
  for (const line of stack.split('\n').slice(1)) {
    const m = /\(?((?:file:\/\/)?[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line.trim());
    if (!m) continue;
    const file = m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1];
    if (!file.startsWith('/') || isOwn(file)) continue;
    return `${file}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

/** The message without irqlab's own paths ("... imported from /x/irqlab/src/devices/registry.ts"). */
export function withoutOwnPaths(message: string): string {
  return message
    .replace(/ imported from (file:\/\/)?\S+/g, (m) => (OWN.some((p) => m.includes(p)) ? '' : m))
    .replace(new RegExp(`(file://)?${escape(root)}(?=(src|ffi)/)`, 'g'), 'irqlab/');
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
