/**
 * docker/Dockerfile's shape (multi-stage, non-root, health check, ports, signals), the
 * HEALTHCHECK script's behaviour, .dockerignore, and the Dockerfile reader itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  builderRunCommands, builderSteps, execForm, parseDockerfile, readDockerfile, REPO_ROOT, runtimeCommand, stageSteps, type DockerStage,
} from '../../support/dockerfileSteps';

const dockerfile = readDockerfile();
const runtime = dockerfile.stages[dockerfile.stages.length - 1]!;

function instructions(stage: DockerStage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

test('multi-stage: a builder and a slim Node 20 runtime that copies only build output', () => {
  assert.ok(dockerfile.stages.length >= 2);
  assert.is(dockerfile.stages[0]!.name, 'builder');
  assert.is(runtime.name, 'runtime');
  assert.match(runtime.from, /^node:20(\.[\d.]+)?-(bookworm-slim|slim|alpine[\d.]*)$/);
  const copies = stageSteps(runtime).steps.filter((s) => s.kind === 'copy');
  const fromBuilder = copies.filter((c) => c.kind === 'copy' && c.fromStage === 'builder').flatMap((c) => (c.kind === 'copy' ? c.sources : []));
  assert.equal(fromBuilder.sort(), ['/app/dist', '/app/node_modules', '/app/package.json']);
  const fromContext = copies.filter((c) => c.kind === 'copy' && !c.fromStage).flatMap((c) => (c.kind === 'copy' ? c.sources : []));
  assert.equal(fromContext, ['docker/healthcheck.cjs'], 'no sources in the runtime image');
});

test('builder: npm ci, build, prune dev dependencies, in that order', () => {
  const runs = builderRunCommands();
  const at = (re: RegExp) => runs.findIndex((r) => re.test(r));
  const ci = at(/^npm ci\b/);
  const build = at(/^npm run build\b/);
  const prune = at(/^npm prune --omit=dev\b/);
  assert.ok(ci >= 0 && build > ci && prune > build, runs.join(' | '));
  const steps = builderSteps().steps;
  const srcCopy = steps.findIndex((s) => s.kind === 'copy' && s.sources.includes('src'));
  const lockCopy = steps.findIndex((s) => s.kind === 'copy' && s.sources.includes('package-lock.json'));
  const ciStep = steps.findIndex((s) => s.kind === 'run' && s.command.startsWith('npm ci'));
  assert.ok(lockCopy < ciStep && ciStep < srcCopy, 'dependencies are installed before the sources are copied (layer cache)');
  for (const s of steps) if (s.kind === 'copy') for (const src of s.sources) assert.ok(existsSync(join(REPO_ROOT, src)), src);
});

test('runtime: a numeric non-root USER', () => {
  const users = instructions(runtime, 'USER');
  assert.ok(users.length > 0, 'USER is set');
  const user = users[users.length - 1]!;
  const uid = user.split(':')[0]!;
  assert.match(uid, /^\d+$/, 'numeric, so runAsNonRoot can verify it');
  assert.is.not(Number(uid), 0);
});

test('runtime: EXPOSE 5673 and 9464', () => {
  const ports = instructions(runtime, 'EXPOSE').flatMap((a) => a.split(/\s+/)).map((p) => p.split('/')[0]);
  assert.ok(ports.includes('5673') && ports.includes('9464'), ports.join(' '));
});

test('runtime: HEALTHCHECK runs node on a script the image contains', () => {
  const [hc] = instructions(runtime, 'HEALTHCHECK');
  assert.ok(hc, 'HEALTHCHECK');
  const cmd = execForm(hc!.slice(hc!.indexOf('CMD') + 3).trim());
  assert.ok(cmd, 'exec form');
  assert.is(cmd![0], 'node', 'no curl in slim images');
  assert.is(cmd![1], '/app/healthcheck.cjs');
  assert.match(hc!, /--interval=\d+s/);
});

test('runtime: node is PID 1 via exec form, starting dist/main.js', () => {
  assert.equal(runtimeCommand(), ['node', '/app/dist/main.js']);
  assert.equal(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).bin['amqp-trace-proxy'], 'dist/main.js');
});

test('the demo images: non-root, exec form, sources that exist', () => {
  for (const file of ['demo.Dockerfile', 'worker.Dockerfile']) {
    const parsed = readDockerfile(join(REPO_ROOT, 'docker', file));
    const last = parsed.stages[parsed.stages.length - 1]!;
    const user = instructions(last, 'USER').pop();
    assert.ok(user && !/^(0|root)(:|$)/.test(user), `${file}: USER ${user}`);
    assert.ok(execForm(instructions(last, 'ENTRYPOINT').pop() ?? ''), `${file}: ENTRYPOINT in exec form`);
  }
});

test('.dockerignore keeps build output, dependencies and secrets out of the context, but not what COPY needs', () => {
  const lines = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const must of ['node_modules', 'dist', '.git']) assert.ok(lines.includes(must), must);
  for (const needed of ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'demo', 'docker']) assert.not.ok(lines.includes(needed), needed);
});

// --- docker/healthcheck.cjs -----------------------------------------------------------

/** Runs the script as Docker would; async, since the test server lives in this process. */
function healthcheck(env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'docker', 'healthcheck.cjs')], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

async function serving(handler: (path: string) => number): Promise<{ port: number; stop: () => Promise<void> }> {
  const server: Server = createServer((req, res) => res.writeHead(handler(req.url ?? '')).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, stop: () => new Promise((r) => server.close(() => r())) };
}

test('healthcheck: 200 from /healthz on the METRICS_LISTEN port is healthy', async () => {
  const s = await serving((path) => (path === '/healthz' ? 200 : 404));
  try {
    assert.is(await healthcheck({ METRICS_LISTEN: `0.0.0.0:${s.port}` }), 0, 'wildcard listener reached on loopback');
    assert.is(await healthcheck({ METRICS_LISTEN: `127.0.0.1:${s.port}` }), 0);
    assert.is(await healthcheck({ HEALTHCHECK_URL: `http://127.0.0.1:${s.port}/other` }), 1, 'a 404 is unhealthy');
  } finally {
    await s.stop();
  }
});

test('healthcheck: 503 or nothing listening is unhealthy', async () => {
  const s = await serving(() => 503);
  try {
    assert.is(await healthcheck({ METRICS_LISTEN: `0.0.0.0:${s.port}` }), 1);
  } finally {
    await s.stop();
  }
  assert.is(await healthcheck({ METRICS_LISTEN: `0.0.0.0:${s.port}` }), 1, 'closed port');
});

// --- the reader -------------------------------------------------------------------------

test('reader: continuations, comments inside them, ARG defaults, stage names, flags', () => {
  const parsed = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    'ARG BASE=node:20-slim',
    'FROM ${BASE} AS build',
    'RUN apt-get update \\',
    '  # a comment inside the continuation',
    '  && apt-get install -y x',
    'COPY --chown=1:1 a b ./',
    'from --platform=linux/amd64 $BASE as final',
    'COPY --from=build /out /out',
    'CMD ["node", "x.js"]',
  ].join('\n'));
  assert.equal(parsed.globalArgs, { BASE: 'node:20-slim' });
  assert.equal(parsed.stages.map((s) => [s.name, s.from]), [['build', 'node:20-slim'], ['final', 'node:20-slim']]);
  const build = stageSteps(parsed.stages[0]!).steps;
  assert.equal(build, [
    { kind: 'run', command: 'apt-get update && apt-get install -y x' },
    { kind: 'copy', sources: ['a', 'b'], dest: './', fromStage: undefined },
  ]);
  assert.equal(stageSteps(parsed.stages[1]!).steps, [{ kind: 'copy', sources: ['/out'], dest: '/out', fromStage: 'build' }]);
  assert.throws(() => parseDockerfile('RUN x\nFROM y'), /before the first FROM/);
  assert.throws(() => parseDockerfile('FROM y\nRUN a \\'), /continuation/);
});

test.run();
