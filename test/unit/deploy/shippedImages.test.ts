/**
 * What users run names only images a registry has: the local stand-ins the container tests
 * build (atp-local/..., the local node and trixie bases) appear in test tooling only, and
 * every Dockerfile's base image is an ARG whose default is the official image.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { readDockerfile, REPO_ROOT } from '../../support/dockerfileSteps';

const SHIPPED = ['docker', 'k8s', 'observability'];
const LOCAL_ONLY = /atp-local\//;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

test('no shipped Dockerfile, compose file or manifest names a local-only image', () => {
  const offenders = SHIPPED.flatMap((d) => files(join(REPO_ROOT, d)))
    .filter((f) => LOCAL_ONLY.test(readFileSync(f, 'utf8')))
    .map((f) => relative(REPO_ROOT, f));
  assert.equal(offenders, []);
});

test('every shipped Dockerfile takes its base image from an ARG that defaults to an official image', () => {
  const expected: Record<string, RegExp> = {
    'Dockerfile': /^node:20-bookworm-slim$/,
    'demo.Dockerfile': /^node:20-bookworm-slim$/,
    'worker.Dockerfile': /^debian:trixie-slim$/,
  };
  const found = readdirSync(join(REPO_ROOT, 'docker')).filter((f) => f.endsWith('Dockerfile')).sort();
  assert.equal(found, Object.keys(expected).sort());
  for (const [file, want] of Object.entries(expected)) {
    const text = readFileSync(join(REPO_ROOT, 'docker', file), 'utf8');
    for (const from of text.split('\n').filter((l) => /^FROM\s/.test(l))) {
      assert.match(from, /^FROM \$\{[A-Z_]+\}( AS \w+)?$/, `${file}: ${from}`);
    }
    for (const stage of readDockerfile(join(REPO_ROOT, 'docker', file)).stages) assert.match(stage.from, want, `${file}: ${stage.from}`);
  }
});

test.run();
