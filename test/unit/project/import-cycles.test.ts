/**
 * No import cycles in shared/, functions/ and models/, at two levels (type-only imports count: they
 * tie modules together just as much):
 * - files: no file reaches itself through its imports;
 * - modules: no folder (shared/<x>, functions/<x>, models/<x>) reaches itself through the imports of
 *   its files (capture → identity → profiles → capture was one).
 * ALLOWED names the cycles still being removed; a cycle is tolerated only when every member is
 * covered by one entry. The run prints the cycles it tolerated and the entries nothing needs any more.
 */
import { join } from 'node:path';
import { parseDependencyTree } from 'dpdm';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SOURCE_GLOBS = ['shared/**/*.ts', 'functions/**/*.ts', 'models/**/*.ts'];

interface AllowedCycle {
  name: string;
  why: string;
  /** Members a tolerated cycle may have (files or modules, by prefix). */
  members: readonly string[];
}

/**
 * The one tolerated tangle: inside models/, the offline evaluation harness (models/evaluation: the
 * runner and blend search behind `npm run evaluate`) and the model code it evaluates import each
 * other — the recommender's validation-time selection reuses the harness, the harness lists the
 * candidates. It never reaches shared/: models/ depends on shared/, never the reverse, apart from the
 * family list (models/families.ts) that shared/training reads.
 */
const ALLOWED: readonly AllowedCycle[] = [
  {
    name: 'models/evaluation <-> models/recommender <-> models/sequence <-> models/session',
    why: 'the evaluation harness and the candidates it evaluates share code both ways (selection on validation reuses the harness)',
    members: ['models/evaluation', 'models/recommender', 'models/sequence', 'models/session'],
  },
];

type Graph = Map<string, Set<string>>;

const moduleOf = (file: string) => file.split('/').slice(0, 2).join('/');

/** Strongly connected components with more than one member (Tarjan), members sorted. */
function cycles(graph: Graph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const allowedBy = (component: readonly string[]) => ALLOWED.find((a) => component.every((m) => a.members.some((prefix) => m.startsWith(prefix))));
const describeCycle = (component: readonly string[]) => component.join(' <-> ');

let files: Graph;
let modules: Graph;

beforeAll(async () => {
  const tree = await parseDependencyTree(SOURCE_GLOBS, { cwd: ROOT, context: ROOT, transform: false, skipDynamicImports: false });
  files = new Map();
  modules = new Map();
  for (const [file, dependencies] of Object.entries(tree)) {
    if (file.includes('node_modules')) continue;
    files.set(file, files.get(file) ?? new Set());
    modules.set(moduleOf(file), modules.get(moduleOf(file)) ?? new Set());
    for (const dependency of dependencies ?? []) {
      if (!dependency.id || dependency.id.includes('node_modules')) continue;
      files.get(file)?.add(dependency.id);
      if (moduleOf(dependency.id) !== moduleOf(file)) modules.get(moduleOf(file))?.add(moduleOf(dependency.id));
    }
  }
}, 120_000);

describe('import cycles', () => {
  it('reads the import graph of every source folder', () => {
    // Assess: the parser resolved the project's extensionless imports (a broken parse would find no cycles at all).
    expect(files.size).toBeGreaterThan(150);
    expect(files.get('shared/capture/service.ts')).toContain('shared/profiles/repository.ts');
    expect(modules.get('shared/capture')).toContain('shared/identity');
  });

  it('has no file-level cycle outside the allow-list', () => {
    // Act
    const found = cycles(files);
    const tolerated = found.filter((c) => allowedBy(c));

    // Assess
    if (tolerated.length) console.info(`file cycles tolerated by the allow-list:\n${tolerated.map(describeCycle).join('\n')}`);
    expect(found.filter((c) => !allowedBy(c)).map(describeCycle)).toEqual([]);
  });

  it('has no module-level cycle outside the allow-list', () => {
    // Act
    const found = cycles(modules);
    const tolerated = found.filter((c) => allowedBy(c));
    const unused = ALLOWED.filter((a) => ![...found, ...cycles(files)].some((c) => allowedBy(c) === a));

    // Assess
    if (tolerated.length) console.info(`module cycles tolerated by the allow-list:\n${tolerated.map(describeCycle).join('\n')}`);
    if (unused.length) console.info(`allow-list entries no cycle needs any more (drop them): ${unused.map((a) => a.name).join('; ')}`);
    expect(found.filter((c) => !allowedBy(c)).map(describeCycle)).toEqual([]);
  });

  it('finds a cycle when there is one (the checker itself)', () => {
    // Prepare
    const graph: Graph = new Map([
      ['shared/a', new Set(['shared/b'])],
      ['shared/b', new Set(['shared/c'])],
      ['shared/c', new Set(['shared/a'])],
      ['shared/d', new Set(['shared/a'])],
    ]);

    // Act
    const found = cycles(graph);

    // Assess
    expect(found).toEqual([['shared/a', 'shared/b', 'shared/c']]);
    expect(allowedBy(['shared/capture', 'shared/identity'])).toBeUndefined();
    expect(allowedBy(['models/recommender', 'shared/training'])).toBeUndefined();
    expect(allowedBy(['models/evaluation', 'models/recommender'])?.name).toMatch(/^models\/evaluation <->/);
  });
});
