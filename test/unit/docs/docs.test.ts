/**
 * The README and docs/ against the facts they describe: generated blocks up to date, no
 * hand-written second copy of an option or a metric, and every relative link resolving.
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCKS, ROOT, blockContent } from '../../../scripts/update-docs';
import { helpText } from '../../../src/config/config';
import { createMetrics } from '../../../src/metrics/metrics';
import { WEBHOOK_HELP } from '../../../src/webhook/cli';

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const readme = read('README.md');

/** Every Markdown file of the project, as paths from the root. */
function markdownFiles(dir = ROOT): string[] {
  const skip = new Set(['node_modules', 'dist', '.git']);
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return skip.has(entry.name) ? [] : markdownFiles(path);
    return entry.name.endsWith('.md') ? [relative(ROOT, path)] : [];
  });
}

/** A Markdown file with the contents of its generated blocks removed: what was written by hand. */
function handWritten(path: string): string {
  return read(path).replace(/<!-- ([\w-]+):begin -->[\s\S]*?<!-- \1:end -->/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
const anchors = (markdown: string): string[] => [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!));

/** The option descriptions `--help` and `webhook --help` print, without their defaults. */
function optionHelps(): string[] {
  const proxy = helpText().split('\n').filter((l) => l.startsWith('      ')).map((l) => l.trim().replace(/ \(default: .*\)$/, ''));
  const webhook = WEBHOOK_HELP.split('\n').map((l) => /^  --[a-z-]+ \S+\s+(.+?)(?: \[.*\])?$/.exec(l)?.[1]).filter((h): h is string => h !== undefined);
  return [...proxy, ...webhook];
}

test('every generated block is up to date (run `npm run docs`)', async () => {
  for (const block of BLOCKS) {
    const content = blockContent(read(block.file), block.name);
    assert.ok(content !== undefined, `${block.file} has no ${block.name} block`);
    assert.ok(content === await block.render(), `${block.file}: the ${block.name} block is out of date; run \`npm run docs\``);
  }
});

test('the metrics table names every metric the proxy exports, once', async () => {
  const block = blockContent(read('docs/METRICS.md'), 'metrics') ?? '';
  const metrics = createMetrics({ destinationLabels: true, maxDestinationLabels: 1, collectDefault: false });
  const names = metrics.registry.getMetricsAsArray().map((m) => m.name).filter((n) => n.startsWith('amqp_trace_proxy_'));
  for (const name of names) assert.is(block.split(`| \`${name}\` |`).length - 1, 1, name);
});

test('no option is described by hand outside the option table: its help text appears only in generated blocks', () => {
  const helps = optionHelps();
  assert.ok(helps.length >= 30, `${helps.length} options`);
  const options = new Set(helpText().match(/--[a-z-]+|\b[A-Z][A-Z0-9_]{3,}\b/g) ?? []);
  for (const file of markdownFiles()) {
    const text = handWritten(file);
    const copied = helps.filter((h) => h.length > 12 && text.includes(h));
    assert.equal(copied, [], `${file} repeats the --help text of these options; link to docs/OPERATIONS.md#options instead`);
    const rows = [...text.matchAll(/^\|\s*`(--[a-z-]+|[A-Z][A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]!);
    assert.equal(rows.filter((r) => options.has(r)), [], `${file} has a table row describing an option; the option list is generated`);
  }
});

test('no metric is described by hand: its table row exists only in the generated block of docs/METRICS.md', () => {
  const metrics = createMetrics({ destinationLabels: true, maxDestinationLabels: 1, collectDefault: false });
  const names = metrics.registry.getMetricsAsArray().map((m) => m.name).filter((n) => n.startsWith('amqp_trace_proxy_'));
  assert.ok(names.length >= 20, `${names.length} metrics`);
  for (const file of markdownFiles()) {
    const lines = handWritten(file).split('\n');
    for (const name of names) {
      const rows = lines.filter((l) => l.startsWith(`| \`${name}\` |`)).length;
      assert.is(rows, 0, `${file}: ${rows} hand-written table rows describe ${name}; its help text in src/metrics/metrics.ts is the description`);
    }
  }
});

test('every relative link in the README and docs/ resolves, anchors included', () => {
  const files = markdownFiles().filter((f) => f === 'README.md' || f.startsWith('docs'));
  for (const file of files) {
    const text = read(file).replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
      assert.ok(existsSync(resolved), `${file}: link to ${target} (no such file)`);
      if (anchor !== undefined && statSync(resolved).isFile() && resolved.endsWith('.md')) {
        assert.ok(anchors(readFileSync(resolved, 'utf8')).includes(anchor), `${file}: link to ${target} (no such heading)`);
      }
    }
  }
});

test('the README is a front page: short, the two quick-start commands, a link to every page of docs/', () => {
  const lines = readme.split('\n').length;
  assert.ok(lines <= 260, `README.md has ${lines} lines; move detail to docs/ and link to it`);
  assert.match(readme, /```sh\nmake run .*\nmake test .*\n```/);
  const makefile = read('Makefile');
  for (const target of ['run', 'test']) assert.match(makefile, new RegExp(`^${target}:`, 'm'));
  for (const page of readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'))) {
    assert.ok(readme.includes(`](docs/${page}`), `README.md does not link to docs/${page}`);
  }
});

test('the host tools are named by scripts/host-deps.tsv, not restated: the README and DEPLOY.md link to it, no page gives an install command', () => {
  assert.ok(readme.includes('](scripts/host-deps.tsv)'), 'README.md');
  assert.ok(read('docs/DEPLOY.md').includes('](../scripts/host-deps.tsv)'), 'docs/DEPLOY.md');
  for (const file of markdownFiles()) {
    const installs = handWritten(file).split('\n').filter((l) => /\bapt(?:-get)? install\s+(?:-\S+\s+)*\w/.test(l));
    assert.equal(installs, [], `${file}: name scripts/host-deps.tsv (make test installs it) instead of an install command`);
  }
});

test('docs/CLIENTS.md states the npm client versions package-lock.json pins', () => {
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> };
  const rows = [...read('docs/CLIENTS.md').matchAll(/^\| `([^`]+)` \| ([^ |]+) \|/gm)];
  const npm = rows.filter(([, name]) => !name!.startsWith('python3-'));
  assert.ok(npm.length >= 4, `${npm.length} npm rows`);
  for (const [, name, version] of npm) {
    assert.is(version, lock.packages[`node_modules/${name}`]?.version, `docs/CLIENTS.md's row for ${name}`);
  }
});

test('the addresses the README quotes are the options\' defaults', () => {
  const defaults = new Map([...helpText().matchAll(/^  (\S+)(?: \/ \S+)?\n.*\(default: (.*)\)$/gm)].map((m) => [m[1]!, m[2]!]));
  const port = (flag: string): string => defaults.get(flag)!.split(':').pop()!;
  assert.match(readme, new RegExp(`make run .*on ${defaults.get('--listen')} in front of ${defaults.get('--upstream')!.replace('amqp://', '')}`));
  assert.ok(readme.includes(`amqp://guest:guest@127.0.0.1:${port('--listen')}`), '--listen');
  assert.ok(readme.includes(`http://127.0.0.1:${port('--metrics-listen')}/metrics`), '--metrics-listen');
  assert.ok(readme.includes(`http://127.0.0.1:${port('--admin-listen')}/mode`), '--admin-listen');
  assert.ok(readme.includes(`:${port('--listen')}  (+:${port('--metrics-listen')})`), 'the diagram');
  const otlp = new URL(defaults.get('OTEL_EXPORTER_OTLP_ENDPOINT')!);
  assert.ok(readme.includes(`collector at \`${otlp.host}\``), 'OTEL_EXPORTER_OTLP_ENDPOINT');
});

test('every alert links to a runbook heading that exists', () => {
  const rules = read('observability/prometheus-rules.yml');
  const urls = [...rules.matchAll(/runbook_url: "[^"]*\/blob\/main\/([^"#]+)#([a-z0-9-]+)"/g)];
  assert.ok(urls.length >= 2, `${urls.length} runbook links`);
  for (const [, path, anchor] of urls) {
    assert.ok(anchors(read(path!)).includes(anchor!), `${path}#${anchor}`);
  }
});

test.run();
