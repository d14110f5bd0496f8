// The layer order of the code base, as data, and the rules an import graph
// must follow: a file may import files of its own folder and of folders in
// lower layers; never a folder in its own layer or above it, and no chain of
// imports may come back to where it started. ARCHITECTURE.md explains each
// layer; `make test` checks the real graph (check.ts) before running ava.

/**
 * Lowest first. A row is one layer: folders (or single files) that know
 * nothing of each other, only of the rows before them.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['ffi'],
  ['src/protocol', 'src/text'],
  ['src/transport'],
  ['src/dma', 'src/client'],
  ['src/device'],
  ['src/irq'],
  ['src/server'],
  ['src/faults'],
  ['src/pci'],
  ['src/devices', 'src/vm'],
  ['src/guest', 'src/trace'],
  ['src/control', 'src/lab'],
  ['src/scenario', 'bench'],
  ['src/cli'],
  ['src/index.ts'],
];

/** Files -> the files they import (paths relative to the repository, '/' separated). */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

export interface Violation {
  kind: 'cycle' | 'upward' | 'sideways' | 'unplaced';
  /** The offending import (from -> to), or the files of a cycle in order. */
  files: string[];
  message: string;
}

/** The layer row and folder a file belongs to (the longest matching entry), or undefined. */
export function placeOf(file: string, layers: readonly (readonly string[])[] = LAYERS): { rank: number; unit: string } | undefined {
  let best: { rank: number; unit: string } | undefined;
  layers.forEach((row, rank) => {
    for (const unit of row) {
      if ((file === unit || file.startsWith(`${unit}/`)) && (!best || unit.length > best.unit.length)) best = { rank, unit };
    }
  });
  return best;
}

/** Every upward, sideways or unplaced import, and every cycle, in `graph`. */
export function checkGraph(graph: ImportGraph, layers: readonly (readonly string[])[] = LAYERS): Violation[] {
  const out: Violation[] = [];
  for (const [from, tos] of graph) {
    const a = placeOf(from, layers);
    if (!a) {
      out.push({ kind: 'unplaced', files: [from], message: `${from} is in no layer: add its folder to the layer table (test/layers/layers.ts) and ARCHITECTURE.md` });
      continue;
    }
    for (const to of tos) {
      const b = placeOf(to, layers);
      if (!b) continue; // reported as unplaced when it is scanned itself
      if (a.unit === b.unit) continue;
      if (b.rank > a.rank) {
        out.push({ kind: 'upward', files: [from, to], message: `${from} imports ${to}: ${a.unit} (layer ${a.rank}) must not know ${b.unit} (layer ${b.rank}, above it)` });
      } else if (b.rank === a.rank) {
        out.push({ kind: 'sideways', files: [from, to], message: `${from} imports ${to}: ${a.unit} and ${b.unit} share layer ${a.rank} and must not know each other` });
      }
    }
  }
  for (const cycle of findCycles(graph)) {
    out.push({ kind: 'cycle', files: cycle, message: `import cycle: ${[...cycle, cycle[0]].join(' -> ')}` });
  }
  return out;
}

/** One cycle per strongly connected component of more than one file (or a file importing itself). */
export function findCycles(graph: ImportGraph): string[][] {
  // Tarjan's algorithm, iterative so a long chain cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; edges: readonly string[]; i: number }[] = [];
    const enter = (node: string) => {
      index.set(node, next);
      low.set(node, next);
      next++;
      stack.push(node);
      onStack.add(node);
      work.push({ node, edges: graph.get(node) ?? [], i: 0 });
    };
    enter(root);
    while (work.length) {
      const top = work[work.length - 1];
      if (top.i < top.edges.length) {
        const to = top.edges[top.i++];
        if (!index.has(to)) enter(to);
        else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) !== index.get(top.node)) continue;
      const component: string[] = [];
      let n: string;
      do {
        n = stack.pop()!;
        onStack.delete(n);
        component.push(n);
      } while (n !== top.node);
      const selfLoop = component.length === 1 && (graph.get(n) ?? []).includes(n);
      if (component.length > 1 || selfLoop) cycles.push(cycleThrough(graph, new Set(component), top.node));
    }
  }
  return cycles;
}

/** A shortest cycle from `start` back to it inside one component (breadth first), for the message. */
function cycleThrough(graph: ImportGraph, component: ReadonlySet<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const n = queue.shift()!;
    for (const to of graph.get(n) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const path = [n];
        while (path[0] !== start) path.unshift(prev.get(path[0])!);
        return path;
      }
      if (!prev.has(to)) {
        prev.set(to, n);
        queue.push(to);
      }
    }
  }
  return [start];
}
