// Module hooks (node:module register) for loading a user's TypeScript file as
// an ES module whatever its folder's package.json says: a URL ending in
// ?irqlab-esm resolves with format "module", and tsx compiles it as one.
// Plain JavaScript: hooks run in Node's loader thread.
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return r.url.endsWith('?irqlab-esm') ? { ...r, format: 'module' } : r;
}
