/**
 * The compose rollback figures are measured by test/docker/compose.test.ts and recorded once,
 * in docs/DEPLOY.md ("Measured rollback and forward"); the README and DEPLOY.md's summary
 * quote them rounded. These fail when a quote drifts from the table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../support/dockerfileSteps';

const deploy = readFileSync(join(REPO_ROOT, 'docs/DEPLOY.md'), 'utf8');
const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

function measured(): { upWait: number; pause: number } {
  const row = /^\| rollback \(alias to the broker\) \| ([\d.]+) s \| ([\d.]+) s \| 0 of [\d,]+ \|$/m.exec(deploy);
  assert.ok(row, 'docs/DEPLOY.md has the measured rollback row');
  return { upWait: Number(row![1]), pause: Number(row![2]) };
}

test('the README quotes the measured compose rollback, rounded', () => {
  const { upWait, pause } = measured();
  assert.ok(readme.includes(`measured: \`up --wait\` ${Math.round(upWait)} s, publishers with confirms paused ${Math.round(pause)} s`),
    `README's compose row should say ${Math.round(upWait)} s and ${Math.round(pause)} s`);
});

test('DEPLOY.md\'s summary of switches quotes the same figures', () => {
  const { upWait, pause } = measured();
  assert.ok(deploy.includes(`(measured: ${Math.round(upWait)} s, publishers paused ${Math.round(pause)} s)`));
});

test.run();
