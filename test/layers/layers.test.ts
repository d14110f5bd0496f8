// The import check that `make test` runs before ava (test/layers/check.ts),
// fed synthetic graphs: it must catch a cycle, an upward import, an import
// across one layer, and a file outside every layer, and pass a clean graph.
import test from 'ava';
import { checkGraph, findCycles, placeOf, LAYERS, type ImportGraph } from './layers.ts';
import { readGraph } from './check.ts';

const layers = [['low'], ['mid/a', 'mid/b'], ['high'], ['top.ts']];
const graph = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

test('a clean graph passes: imports go down the layers or stay in their folder', (t) => {
  const g = graph({
    'low/x.ts': [],
    'low/y.ts': ['low/x.ts'],
    'mid/a/m.ts': ['low/y.ts'],
    'mid/b/n.ts': ['low/x.ts'],
    'high/h.ts': ['mid/a/m.ts', 'mid/b/n.ts', 'low/x.ts'],
    'top.ts': ['high/h.ts'],
  });
  t.deepEqual(checkGraph(g, layers), []);
});

test('an upward import is caught, naming both files and both layers', (t) => {
  const v = checkGraph(graph({ 'low/x.ts': ['high/h.ts'], 'high/h.ts': [] }), layers);
  t.is(v.length, 1);
  t.is(v[0].kind, 'upward');
  t.deepEqual(v[0].files, ['low/x.ts', 'high/h.ts']);
  t.regex(v[0].message, /low \(layer 0\) must not know high \(layer 2, above it\)/);
});

test('an import between two folders of one layer is caught', (t) => {
  const v = checkGraph(graph({ 'mid/a/m.ts': ['mid/b/n.ts'], 'mid/b/n.ts': [] }), layers);
  t.deepEqual(v.map((x) => x.kind), ['sideways']);
});

test('a cycle is caught even inside one folder, and reported as the files in order', (t) => {
  const g = graph({ 'low/a.ts': ['low/b.ts'], 'low/b.ts': ['low/c.ts'], 'low/c.ts': ['low/a.ts'], 'low/d.ts': ['low/a.ts'] });
  const v = checkGraph(g, layers);
  t.deepEqual(v.map((x) => x.kind), ['cycle']);
  t.deepEqual(v[0].files, ['low/a.ts', 'low/b.ts', 'low/c.ts']);
  t.regex(v[0].message, /low\/a\.ts -> low\/b\.ts -> low\/c\.ts -> low\/a\.ts/);
});

test('a cycle across layers is reported both as the upward import and as the cycle', (t) => {
  const v = checkGraph(graph({ 'high/h.ts': ['low/x.ts'], 'low/x.ts': ['high/h.ts'] }), layers);
  t.deepEqual(v.map((x) => x.kind).sort(), ['cycle', 'upward']);
});

test('a file importing itself is a cycle; two separate cycles are two reports', (t) => {
  t.deepEqual(findCycles(graph({ 'low/a.ts': ['low/a.ts'] })), [['low/a.ts']]);
  t.is(findCycles(graph({ 'low/a.ts': ['low/b.ts'], 'low/b.ts': ['low/a.ts'], 'high/x.ts': ['high/y.ts'], 'high/y.ts': ['high/x.ts'] })).length, 2);
});

test('a file in no layer is reported so that new folders get a place', (t) => {
  const v = checkGraph(graph({ 'elsewhere/z.ts': ['low/x.ts'] }), layers);
  t.deepEqual(v.map((x) => x.kind), ['unplaced']);
});

test('a long chain is checked without running out of stack', (t) => {
  const edges: Record<string, string[]> = {};
  for (let i = 0; i < 50_000; i++) edges[`low/f${i}.ts`] = i ? [`low/f${i - 1}.ts`] : [];
  t.deepEqual(checkGraph(graph(edges), layers), []);
  edges['low/f0.ts'] = ['low/f49999.ts'];
  t.is(findCycles(graph(edges))[0].length, 50_000);
});

test('the longest matching entry places a file (a file named in the table beats its folder)', (t) => {
  t.deepEqual(placeOf('top.ts', layers), { rank: 3, unit: 'top.ts' });
  t.deepEqual(placeOf('mid/a/deep/x.ts', layers), { rank: 1, unit: 'mid/a' });
  t.is(placeOf('middle/x.ts', layers), undefined, 'a prefix of a folder name is not the folder');
});

test('the reader sees static, type-only, re-exported and dynamic imports of the real code', (t) => {
  const g = readGraph(new URL('../..', import.meta.url).pathname);
  t.true(g.get('src/cli/main.ts')!.includes('src/cli/serve.ts'), 'a dynamic import()');
  t.true(g.get('src/index.ts')!.includes('src/pci/function.ts'), 'a re-export');
  t.true(g.get('src/device/model.ts')!.includes('src/dma/dma-space.ts'), 'an import type');
  t.true([...g.keys()].every((f) => placeOf(f, LAYERS) !== undefined), 'every file of ffi/, src/ and bench/ has a layer');
});
