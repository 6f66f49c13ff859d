import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';

// The house's import rules, read from the code itself: every src/**/*.ts file's imports (static
// `import` and `export ... from`, type-only ones included, and `import()` of a literal).

const ROOT = join(import.meta.dirname, '..', '..');

/** A file's folder as the rules name it: `src/<folder>`, or `src/*.ts` for the helpers at the root. */
function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : 'src/*.ts';
}

/**
 * The low floors and the only folders each may import (besides itself): what they are built
 * on. Whatever is not named here is higher, and out of bounds for them.
 */
const LOW_FLOORS: Record<string, string[]> = {
  // The root helpers (errors, log, timeouts, the bounded map) are under everything: they import nothing of the house.
  'src/*.ts': [],
  // Certificates are files and openssl: root helpers only.
  'src/certs': ['src/*.ts'],
  // The database and its commit faults: root helpers only.
  'src/store': ['src/*.ts'],
  // The host table and each part's section of it (front, app): read by every floor above, so it reads none of them.
  'src/config': ['src/*.ts'],
  // TLS listeners' pieces (certificates, hellos, ticket keys), shared by the front and a node's HTTP port: their settings' types only.
  'src/tls': ['src/*.ts', 'src/config'],
  // Links, channels and framing: on the host table and the certificates, nothing higher.
  'src/net': ['src/*.ts', 'src/certs', 'src/config'],
  // The journal: commands over the store, nothing higher.
  'src/journal': ['src/*.ts', 'src/commands', 'src/store'],
};

/**
 * The top floors and the only folders that may import each: the front is the top of the request
 * path, the node assembles a node's parts, admin tells about both; only what starts or drives
 * them (the CLI, the scenario) is above. A domain folder (replication, sessions...) imports none.
 */
const TOP_FLOORS: Record<string, string[]> = {
  'src/front': ['src/cli', 'src/scenario'],
  'src/node': ['src/cli', 'src/scenario'],
  'src/admin': ['src/front', 'src/node', 'src/cli', 'src/scenario'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

const STATIC = /(?:^|[\s;])(?:import|export)\s[^'";]*?\sfrom\s*['"]([^'"]+)['"]/g;
const BARE = /^\s*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The files of the house a file imports (relative specifiers only: packages and node: are not the house's). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs = [...text.matchAll(STATIC), ...text.matchAll(BARE), ...text.matchAll(DYNAMIC)].map((m) => m[1]);
  return specs.filter((s) => s.startsWith('.')).map((s) => relative(ROOT, normalize(join(ROOT, dirname(file), s))));
}

const files = sourceFiles('src');
const graph = new Map(files.map((f) => [f, [...new Set(importsOf(f))]]));

/** Strongly connected components of more than one file (Tarjan), each as a sorted list. */
function circles(): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || graph.get(v)!.includes(v)) found.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return found;
}

/** One loop through a circle's files, as `a -> b -> ... -> a`. */
function loopIn(scc: string[]): string {
  const inside = new Set(scc);
  const path = [scc[0]];
  const seen = new Set(path);
  const walk = (v: string): boolean => {
    for (const w of graph.get(v)!) {
      if (w === scc[0]) return path.push(w) > 0;
      if (!inside.has(w) || seen.has(w)) continue;
      path.push(w);
      seen.add(w);
      if (walk(w)) return true;
      path.pop();
    }
    return false;
  };
  walk(scc[0]);
  return path.join(' -> ');
}

describe('the house: imports', () => {
  it('reads the imports of every source file', () => {
    assert.ok(files.length > 150, `only ${files.length} source files found under src/`);
    for (const [file, targets] of graph) for (const t of targets) assert.ok(graph.has(t), `${file} imports ${t}, which is not a source file`);
  });

  it('has no import circle', () => {
    const loops = circles().map(loopIn);
    assert.deepEqual(loops, [], `import circles:\n${loops.join('\n')}`);
  });

  it('has no import that runs up from a low floor, and nothing below a top floor (front, node, admin) imports it', () => {
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const t of targets) {
        const to = folderOf(t);
        if (to === from) continue;
        if (from in LOW_FLOORS && !LOW_FLOORS[from].includes(to)) wrong.push(`${file} -> ${t} (${from} may import only ${LOW_FLOORS[from].join(', ') || 'itself'})`);
        else if (to in TOP_FLOORS && !TOP_FLOORS[to].includes(from)) wrong.push(`${file} -> ${t} (only ${TOP_FLOORS[to].join(', ')} import ${to})`);
      }
    }
    assert.deepEqual(wrong, [], `forbidden imports:\n${wrong.join('\n')}`);
  });

});
