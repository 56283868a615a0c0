/**
 * Every file the compose stack reads exists in the repository: build contexts and
 * Dockerfiles, the COPY sources of those Dockerfiles, and bind-mounted configuration.
 * Some of them belong to other parts of the project (observability/, demo/): a missing
 * one is reported by path, all at once, so the owner knows what to add.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { bindMounts, loadCompose } from '../../support/compose';
import { readDockerfile, REPO_ROOT, stageSteps } from '../../support/dockerfileSteps';

const DOCKER = join(REPO_ROOT, 'docker');
const model = loadCompose(join(DOCKER, 'docker-compose.yml'), join(DOCKER, 'docker-compose.bypass.yml'));

function missing(paths: [string, string][]): string[] {
  return paths.filter(([, p]) => !existsSync(p)).map(([why, p]) => `${why}: ${p.slice(REPO_ROOT.length + 1)} is missing`);
}

test('bind-mounted files and directories exist', () => {
  const wanted: [string, string][] = [];
  for (const [name, s] of Object.entries(model.services)) {
    for (const m of bindMounts(s)) wanted.push([`${name} mounts ${m.source}`, resolve(DOCKER, m.source)]);
  }
  assert.ok(wanted.length >= 6);
  assert.equal(missing(wanted), []);
});

test('build contexts, Dockerfiles and their COPY sources exist', () => {
  const wanted: [string, string][] = [];
  for (const [name, s] of Object.entries(model.services)) {
    if (!s.build) continue;
    const build = typeof s.build === 'string' ? { context: s.build } : s.build;
    const context = resolve(DOCKER, build.context ?? '.');
    const dockerfile = resolve(context, build.dockerfile ?? 'Dockerfile');
    wanted.push([`${name} build context`, context], [`${name} Dockerfile`, dockerfile]);
    if (!existsSync(dockerfile)) continue;
    const { stages } = readDockerfile(dockerfile);
    if (build.target) assert.ok(stages.some((st) => st.name === build.target), `${name}: stage ${build.target}`);
    for (const stage of stages) {
      for (const step of stageSteps(stage).steps) {
        if (step.kind !== 'copy' || step.fromStage) continue;
        for (const src of step.sources) wanted.push([`${name}: COPY in ${dockerfile.slice(REPO_ROOT.length + 1)}`, resolve(context, src)]);
      }
    }
  }
  assert.equal(missing(wanted), []);
});

test('the demo entry points the images run exist', () => {
  assert.equal(missing([
    ['gateway ENTRYPOINT', join(REPO_ROOT, 'demo', 'gateway.ts')],
    ['celery-worker -A worker.app', join(REPO_ROOT, 'demo', 'worker', 'app.py')],
    ['celery-worker package', join(REPO_ROOT, 'demo', 'worker', '__init__.py')],
  ]), []);
});

test.run();
