// `make test` runs this before ava: reads every import of the code base
// (ffi/, src/, bench/: static, type-only, re-exports and dynamic imports)
// and fails on an import cycle or an import that breaks the layer order of
// test/layers/layers.ts.
//   node --import tsx test/layers/check.ts
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { checkGraph, type ImportGraph } from './layers.ts';

const ROOTS = ['ffi', 'src', 'bench'];
const SOURCE = /\.(ts|mts|mjs)$/;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'out') out.push(...sourceFiles(p));
    } else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The repository's import graph: relative imports only (packages and node: builtins are outside it). */
export function readGraph(repo: string): ImportGraph {
  const graph = new Map<string, string[]>();
  const rel = (abs: string) => relative(repo, abs).split(sep).join('/');
  for (const root of ROOTS) {
    for (const file of sourceFiles(join(repo, root))) {
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const targets = importedFiles
        .map((f) => f.fileName)
        .filter((s) => s.startsWith('./') || s.startsWith('../'))
        .map((s) => rel(resolve(dirname(file), s)));
      graph.set(rel(file), [...new Set(targets)]);
    }
  }
  return graph;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const graph = readGraph(repo);
  const problems = checkGraph(graph);
  let edges = 0;
  for (const t of graph.values()) edges += t.length;
  if (problems.length) {
    process.stderr.write(`layers: ${problems.length} problem(s) in the import graph (${graph.size} files):\n`);
    for (const p of problems) process.stderr.write(`  ${p.kind}: ${p.message}\n`);
    process.stderr.write('the layer order is test/layers/layers.ts; ARCHITECTURE.md says what each layer may know\n');
    process.exitCode = 1;
  } else {
    process.stdout.write(`layers: ${graph.size} files, ${edges} imports: no cycle, no upward import\n`);
  }
}
