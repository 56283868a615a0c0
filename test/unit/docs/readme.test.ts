import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { optionsBlock } from '../../../scripts/update-readme-options';
import { createMetrics } from '../../../src/metrics/metrics';

const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');

test('the README documents every option exactly as --help prints it', () => {
  assert.ok(readme.includes(optionsBlock()), 'run `npx tsx scripts/update-readme-options.ts` after changing an option');
});

test('the runbook anchors the alert rules link to exist', () => {
  const rules = readFileSync(join(__dirname, '..', '..', '..', 'observability', 'prometheus-rules.yml'), 'utf8');
  const anchors = [...rules.matchAll(/README\.md#([a-z0-9-]+)/g)].map((m) => m[1]!);
  assert.ok(anchors.length >= 2);
  const headings = [...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-'));
  for (const anchor of anchors) assert.ok(headings.includes(anchor), `README heading for #${anchor}`);
});

test('the README lists every metric the proxy exports', () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 1, collectDefault: false });
  const names = metrics.registry.getMetricsAsArray().map((m) => m.name).filter((n) => n.startsWith('amqp_trace_proxy_'));
  assert.ok(names.length >= 20, `${names.length} metrics`);
  const missing = names.filter((n) => !readme.includes(`\`${n}\``));
  assert.equal(missing, [], 'metrics missing from the README');
});

test.run();
