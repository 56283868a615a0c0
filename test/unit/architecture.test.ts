/**
 * The structure rules of docs/ARCHITECTURE.md, checked on the import graph. The TypeScript
 * devDependency (7.x, the native compiler) has no JavaScript API, so imports are read by
 * importsIn: comments blanked first, then the four forms a module names another in.
 *
 * In src/: no import circle (type-only imports count: a circle of types is still one), no
 * import that runs back up a layer, no file over 400 lines. Between the top folders: test/
 * never imports bench/ and bench/ never imports test/; what both need (the private broker, a
 * free port) lives in tools/, which imports neither.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = resolve(__dirname, '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) out.push(...sourceFiles(path));
    } else if (/\.(ts|js|cjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `code` with every comment replaced by spaces; strings and template literals kept as they are. */
export function withoutComments(code: string): string {
  let out = '';
  let i = 0;
  while (i < code.length) {
    const c = code[i]!;
    const next = code[i + 1];
    if (c === '/' && next === '/') {
      const end = code.indexOf('\n', i);
      const stop = end < 0 ? code.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = code.indexOf('*/', i + 2);
      const stop = end < 0 ? code.length : end + 2;
      out += code.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < code.length && code[j] !== c) j += code[j] === '\\' ? 2 : 1;
      out += code.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Module specifiers in `import … from`, `export … from`, `import '…'`, `import('…')` and `require('…')`. */
const SPECIFIER = /\b(?:from|import|require)\s*\(?\s*(['"])([^'"\n]+)\1/g;

/** Every module specifier in `code`, in order. */
export function importsIn(code: string): string[] {
  return [...withoutComments(code).matchAll(SPECIFIER)].map((m) => m[2]!);
}

/** The repository-relative paths a file imports (relative specifiers only), without extension. */
export function importsOf(file: string): string[] {
  return importsIn(readFileSync(join(ROOT, file), 'utf8'))
    .filter((name) => name.startsWith('.'))
    .map((name) => relative(ROOT, resolve(ROOT, dirname(file), name)));
}

const topFolder = (path: string): string => path.split('/')[0]!;

test('importsIn: the four forms, not comments', () => {
  const code = [
    "import { a } from './a';",
    "import type {\n  B,\n} from '../b';",
    "export { c } from './c';",
    "import './side-effect';",
    "const d = require('./d');",
    "const e = await import('./e');",
    "// import { x } from './commented';",
    "/* require('./block') */",
    "const url = 'http://example.com'; import { f } from './f';",
  ].join('\n');
  assert.equal(importsIn(code), ['./a', '../b', './c', './side-effect', './d', './e', './f']);
});

test('test/ and bench/ do not import each other; tools/ imports neither (nor src/)', () => {
  const forbidden: Record<string, readonly string[]> = { test: ['bench'], bench: ['test'], tools: ['test', 'bench', 'src'] };
  const found: string[] = [];
  for (const [from, banned] of Object.entries(forbidden)) {
    for (const file of sourceFiles(from)) {
      for (const target of importsOf(file)) {
        if (banned.includes(topFolder(target))) found.push(`${file} imports ${target}`);
      }
    }
  }
  assert.equal(found, [], found.join('\n'));
});

test('one sleep and one waitFor in the tests: test/support/wait.ts', () => {
  const found: string[] = [];
  const ownWait = /function\s+(sleep|waitFor)\b|const\s+(sleep|waitFor)\s*=|new Promise(<void>)?\(\((r|resolve)\) => setTimeout\(/;
  for (const file of sourceFiles('test')) {
    // confirmPublisher.cjs runs alone inside a container image, where test/support is not.
    if (file === 'test/support/wait.ts' || file === 'test/support/confirmPublisher.cjs') continue;
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (ownWait.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.equal(found, [], `use sleep/waitFor from test/support/wait.ts:\n${found.join('\n')}`);
});

// ---- src/ ---------------------------------------------------------------------------------

/** src/ as a graph: file → the src/ files it imports (with their .ts), and its packages. */
function srcGraph(): { files: Map<string, string[]>; packages: Map<string, string[]> } {
  const files = new Map<string, string[]>();
  const packages = new Map<string, string[]>();
  for (const file of sourceFiles('src').filter((f) => f.endsWith('.ts'))) {
    const code = readFileSync(join(ROOT, file), 'utf8');
    const specifiers = importsIn(code);
    files.set(file, specifiers.filter((n) => n.startsWith('.')).map((n) => `${relative(ROOT, resolve(ROOT, dirname(file), n))}.ts`));
    packages.set(file, specifiers.filter((n) => !n.startsWith('.')));
  }
  return { files, packages };
}

/** Strongly connected components of more than one file (Tarjan), each sorted. */
export function importCircles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
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
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return circles;
}

const folderOf = (file: string): string => (file.split('/').length > 2 ? file.split('/')[1]! : '(root)');

/** A file that imports nothing of src/ but the byte floor (amqp/): a names or limits file anyone may read. */
const isNamesFile = (file: string, files: ReadonlyMap<string, readonly string[]>): boolean =>
  (files.get(file) ?? []).every((target) => folderOf(target) === 'amqp');

/**
 * The layers, from the floor up: amqp/ (bytes), then log/, config/, metrics/ (which the
 * others read), then trace/ and proxy/, then admin/, webhook/ and the wiring (app.ts,
 * main.ts). `may` lists the src/ folders a folder imports from at all; `namesOnly` those
 * it may take only names files from (see isNamesFile).
 */
const LAYERS: Record<string, { may: readonly string[]; namesOnly?: readonly string[]; packages?: RegExp }> = {
  amqp: { may: ['amqp'], packages: /^(node:net|node:tls|@opentelemetry\/|prom-client|pino)/ },
  log: { may: ['log', 'config'] },
  config: { may: ['config', 'amqp', 'http', 'proxy', 'trace'], namesOnly: ['http', 'proxy', 'trace'] },
  metrics: { may: ['metrics', 'amqp', 'http', 'trace'], namesOnly: ['trace'] },
  http: { may: ['http'] },
  // trace/ meets the proxy's session contract (proxy/session.ts) by shape, without importing it.
  trace: { may: ['trace', 'amqp', 'config', 'metrics', 'log'], packages: /^node:(net|tls)$/ },
  proxy: { may: ['proxy', 'amqp', 'config', 'metrics', 'log', 'http'], packages: /^@opentelemetry\// },
};

test('src/ has no import circle', () => {
  const circles = importCircles(srcGraph().files);
  assert.equal(circles, [], circles.map((c) => `circle of ${c.length}: ${c.join(' ')}`).join('\n'));
});

test('src/: no import runs back up a layer; config/ and metrics/ read only names files of the layers above', () => {
  const { files, packages } = srcGraph();
  const found: string[] = [];
  for (const [file, targets] of files) {
    const rule = LAYERS[folderOf(file)];
    if (rule === undefined) continue;
    for (const target of targets) {
      const folder = folderOf(target);
      const edge = `${file} -> ${target}`;
      if (!rule.may.includes(folder)) found.push(`${edge}: ${folderOf(file)}/ does not import ${folder}/`);
      else if (rule.namesOnly?.includes(folder) && !isNamesFile(target, files)) found.push(`${edge}: not a names file (it imports more than amqp/)`);
    }
    for (const name of packages.get(file) ?? []) {
      if (rule.packages?.test(name)) found.push(`${file} imports ${name}`);
    }
  }
  assert.equal(found, [], found.join('\n'));
});

const lineCount = (file: string): number => readFileSync(join(ROOT, file), 'utf8').split('\n').length - 1;

test('src/: no file over 400 lines', () => {
  const found = sourceFiles('src')
    .map((file) => [file, lineCount(file)] as const)
    .filter(([, lines]) => lines > 400)
    .map(([file, lines]) => `${file}: ${lines} lines`);
  assert.equal(found, [], found.join('\n'));
});

/** The 0-9-1 adapter (frames → lifecycle events); everything else in trace/ is the protocol-neutral core. */
const ADAPTER = 'src/trace/amqp091/';
/** The one file of the core that names the adapter: the factory that wires the proxy's sessions. */
const WIRING = 'src/trace/tracing.ts';

test('src/trace/: the tracing core imports nothing of 0-9-1 (src/amqp/, the adapter); the adapter\'s dispatcher stays under 300 lines', () => {
  const { files } = srcGraph();
  const found: string[] = [];
  for (const [file, targets] of files) {
    if (folderOf(file) !== 'trace' || file.startsWith(ADAPTER)) continue;
    for (const target of targets) {
      if (folderOf(target) === 'amqp') found.push(`${file} -> ${target}: the core reads messages through lifecycle.ts's MessageView`);
      if (target.startsWith(ADAPTER) && file !== WIRING) found.push(`${file} -> ${target}: the core does not know its adapters`);
    }
  }
  assert.equal(found, [], found.join('\n'));
  const dispatcher = lineCount(`${ADAPTER}adapter.ts`);
  assert.ok(dispatcher <= 300, `${ADAPTER}adapter.ts: ${dispatcher} lines`);
});

test('importCircles finds a circle and only circles', () => {
  const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']], ['e', ['e']]]);
  assert.equal(importCircles(graph), [['a', 'b', 'c'], ['e']]);
});

test.run();
