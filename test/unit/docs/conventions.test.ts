/**
 * The docs that show span names and attributes (README, docs/CONVENTIONS.md,
 * docs/DEBUGGING.md with its demo output) against the code that makes them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Attr } from '../../../src/trace/attributes';
import { QUEUE_KIND_CAPACITY } from '../../../src/trace/queueKinds';
import { SEMCONV_SCHEMA_URL, SEMCONV_VERSION } from '../../../src/trace/semconv';

const ROOT = join(__dirname, '..', '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const readme = read('README.md');
const conventions = read('docs/CONVENTIONS.md');
const debugging = read('docs/DEBUGGING.md');

/** A span name the proxy can make: an operation name, a space, a destination without spaces. */
const SPAN_NAME = /^(publish|broker_hop|scheduled_wait|get|process) \S+$/;
/** What must never be in a span name: ids, server-named queues, the old `amq.default:` form. */
const GROWS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|amq\.gen-|amq\.rabbitmq\.reply-to\.|amq\.default:/;

/** Span names of the proxy's rows in a rendered tree (`├─ name  notes   amqp-trace-proxy …`). */
function treeNames(text: string): string[] {
  return text.split('\n').filter((l) => /\bamqp-trace-proxy\b/.test(l) && /[├└]─ |^\S/.test(l))
    .map((l) => l.replace(/^[\s│├└─]*/, '').split(/\s{2,}/)[0]!.trim())
    .filter((n) => !n.startsWith('spans ') && !n.startsWith('proxy ') && n !== '');
}

test('the conventions\' version is stated the same in the code, the README and CONVENTIONS.md', () => {
  assert.match(SEMCONV_VERSION, /^\d+\.\d+\.\d+$/);
  for (const [file, text] of [['README.md', readme], ['docs/CONVENTIONS.md', conventions]] as const) {
    const stated = [...text.matchAll(/semantic conventions\s+\*\*v(\d+\.\d+\.\d+)\*\*/g)].map((m) => m[1]);
    assert.equal(stated, [SEMCONV_VERSION], `${file} states the version once, as in src/trace/semconv.ts`);
  }
  assert.ok(conventions.includes(SEMCONV_SCHEMA_URL.replace(/^https?:\/\//, 'https://')), 'CONVENTIONS.md names the schema URL');
});

test('the demo output in DEBUGGING.md has only bounded span names, and its list of names is its trees\' names', () => {
  const block = debugging.slice(debugging.indexOf('Real output (`npx tsx demo/run.ts`'));
  const names = treeNames(block.slice(0, block.indexOf('span names of the proxy:')));
  assert.ok(names.length >= 30, `${names.length} proxy spans found in the demo output`);
  for (const name of names) {
    assert.match(name, SPAN_NAME, `"${name}" is {operation} {destination}`);
    assert.not.match(name, GROWS, `"${name}" carries a value that grows with traffic`);
  }
  const listed = /(\d+) span names of the proxy: (.*)$/m.exec(block);
  assert.ok(listed, 'the demo prints the set of span names');
  const set = listed![2]!.split(', ');
  assert.is(set.length, Number(listed![1]));
  assert.equal(set.filter((n) => n !== 'publish celeryev').sort(), [...new Set(names)].sort());
});

test('the README\'s and DEBUGGING.md\'s example trees use the span names the proxy makes', () => {
  const fenced = (text: string, after: string): string => {
    const at = text.indexOf('```', text.indexOf(after));
    return text.slice(at + 3, text.indexOf('```', at + 3));
  };
  const readmeNames = treeNames(fenced(readme, '## What a trace looks like'));
  // The guide's tree is annotated instead of showing services: every row below the gateway's.
  const guideNames = fenced(debugging, '## Read the tree').split('\n').filter((l) => /^\s*[│├└]/.test(l))
    .map((l) => l.replace(/^[\s│├└─]*/, '').split(/\s{2,}/)[0]!.replace(/ ….*$/, '').trim())
    .filter((n) => n !== '…');
  assert.equal(readmeNames, ['publish llm', 'broker_hop llm', 'process llm']);
  assert.ok(guideNames.length >= 5, guideNames.join(' | '));
  for (const name of guideNames) assert.match(name, /^(publish|broker_hop|process) \S+/, name);
});

test('every span attribute the docs name is one the proxy writes', () => {
  const known = new Set<string>(Object.values(Attr));
  const named = (text: string): string[] =>
    [...text.matchAll(/`((?:messaging|celery|amqp_trace_proxy|server|error)\.[a-z_.]*[a-z_])/g)].map((m) => m[1]!);
  assert.ok(new Set(named(conventions)).size >= 15, 'CONVENTIONS.md lists the attributes');
  for (const [file, text] of [['README.md', readme], ['docs/CONVENTIONS.md', conventions], ['docs/DEBUGGING.md', debugging]] as const) {
    const unknown = [...new Set(named(text))].filter((n) => !known.has(n));
    assert.equal(unknown, [], `${file} names attributes the proxy does not write`);
  }
});

test('the size of the temporary-queue map is stated as the code has it', () => {
  const stated = QUEUE_KIND_CAPACITY.toLocaleString('en-US');
  assert.ok(conventions.includes(`(${stated} names`), `CONVENTIONS.md says ${stated}`);
  assert.ok(read('docs/METRICS.md').includes(`kept out of span names (${stated})`), `METRICS.md (from the metric's help) says ${stated}`);
});

test.run();
