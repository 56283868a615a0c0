/**
 * scripts/docker/engine.sh, which make test runs first, never lets the container tests pass
 * without an engine: pointed at a socket where none answers, it exits non-zero and says why.
 * And scripts/docker/base-images.sh keeps what it built.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../support/dockerfileSteps';
import { requireDocker } from '../support/docker';

test('an engine that does not answer fails the run with a message that says why', async () => {
  await requireDocker(); // the dockerd of this run is up, so the script will not start another
  const run = spawnSync(join(REPO_ROOT, 'scripts/docker/engine.sh'), [], {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/atp-no-engine.sock' },
    timeout: 60_000,
  });
  assert.is(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /Docker engine unavailable: a dockerd process runs but does not answer/);
  assert.match(run.stderr, /docs\/DEPLOY\.md#how-the-tests-run-it/);
});

test('with the engine answering, it does nothing and succeeds', () => {
  const run = spawnSync(join(REPO_ROOT, 'scripts/docker/engine.sh'), ['--compose'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout, '');
});

test('base images built once are kept between runs (a fresh machine builds them again)', () => {
  const run = spawnSync(join(REPO_ROOT, 'scripts/docker/base-images.sh'), [], { encoding: 'utf8', timeout: 60_000 });
  assert.is(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim().split('\n'), ['atp-local/node:20-bookworm-slim: cached', 'atp-local/debian:trixie-slim: cached']);
});

test.run();
