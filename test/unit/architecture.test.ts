/**
 * The structure rules of docs/ARCHITECTURE.md, checked on the import graph. The TypeScript
 * devDependency (7.x, the native compiler) has no JavaScript API, so imports are read by
 * importsIn: comments blanked first, then the four forms a module names another in.
 *
 * Between the top folders: test/ never imports bench/ and bench/ never imports test/; what
 * both need (the private broker, a free port) lives in tools/, which imports neither.
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

test.run();
