/**
 * What the proxy loads from node_modules when it starts (issue 24: every module loaded is
 * memory an idle sidecar keeps, docs/PERFORMANCE.md "Idle"). Loads src/app.ts, which
 * imports everything the proxy runs, in a fresh process and reads its require.cache.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = resolve(__dirname, '../..');

const PRINT_LOADED = `
require(${JSON.stringify(resolve(ROOT, 'src/app.ts'))});
process.stdout.write(JSON.stringify(Object.keys(require.cache)));
`;

function loadedPaths(): string[] {
  const out = execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', PRINT_LOADED], { cwd: ROOT, encoding: 'utf8' });
  return (JSON.parse(out) as string[]).filter((path) => path.includes('/node_modules/'));
}

/** The package a path belongs to and the folder it was loaded from (the last node_modules in it). */
function packageOf(path: string): { name: string; dir: string } {
  const match = /^(.*\/node_modules\/)((?:@[^/]+\/)?[^/]+)/.exec(path)!;
  return { name: match[2]!, dir: match[1]! + match[2]! };
}

const paths = loadedPaths();
const packages = new Map<string, Set<string>>();
for (const path of paths) {
  const { name, dir } = packageOf(path);
  packages.set(name, (packages.get(name) ?? new Set()).add(dir));
}

test('the proxy loads its dependencies from node_modules (the check sees them)', () => {
  for (const name of ['@opentelemetry/core', '@opentelemetry/sdk-trace', '@opentelemetry/otlp-transformer', 'prom-client', 'pino']) {
    assert.ok(packages.has(name), `${name} is not loaded: the check reads the wrong thing`);
  }
});

test('every package is loaded from one copy only', () => {
  const twice = [...packages].filter(([, dirs]) => dirs.size > 1).map(([name, dirs]) => `${name}: ${[...dirs].join(', ')}`);
  assert.equal(twice, [], 'a package loaded from two folders is two sets of modules in memory');
});

test('no tracer provider, context manager or SDK shim is loaded: the proxy records its spans itself', () => {
  for (const name of ['@opentelemetry/sdk-trace-node', '@opentelemetry/sdk-trace-base', '@opentelemetry/context-async-hooks']) {
    assert.not.ok(packages.has(name), `${name} is loaded`);
  }
});

test('the metrics and logs parts of the OTLP transformer are not loaded: the proxy exports traces only', () => {
  for (const name of ['@opentelemetry/sdk-metrics', '@opentelemetry/sdk-logs', '@opentelemetry/api-logs']) {
    assert.not.ok(packages.has(name), `${name} is loaded`);
  }
});

test('the parts of prom-client the proxy does not use are not loaded (push gateway, cluster aggregator)', () => {
  for (const file of ['prom-client/lib/pushgateway.js', 'prom-client/lib/cluster.js', 'prom-client/lib/summary.js']) {
    assert.not.ok(paths.some((path) => path.endsWith(`/node_modules/${file}`)), `${file} is loaded`);
  }
});

test.run();
