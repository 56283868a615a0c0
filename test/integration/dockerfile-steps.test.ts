import { execSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { consumeN, headersOf, withConnection } from '../support/amqp';
import { BROKER_HOST, BROKER_PORT, requireBroker, uniqueName } from '../support/broker';
import { REPO_ROOT, readDockerfile, stageSteps } from '../support/dockerfileSteps';
import { sleep, waitFor } from '../support/wait';
import { listeningPorts } from './hardening/helpers';

/*
 * No Docker engine runs here, so the image's recipe is replayed on the host: each stage's
 * COPY and RUN lines in order, in a scratch directory standing in for WORKDIR, then the
 * final stage's ENTRYPOINT. If a step of the Dockerfile is wrong, this fails the same way.
 */
const dockerfile = suite('Dockerfile steps, outside Docker');

function replayStage(name: string, workdir: string, stageDirs: Map<string, string>): void {
  const stage = readDockerfile().stages.find((s) => s.name === name);
  assert.ok(stage, `stage ${name}`);
  const { workdir: imageWorkdir, steps } = stageSteps(stage!);
  for (const step of steps) {
    if (step.kind === 'run') {
      execSync(step.command, { cwd: workdir, stdio: 'pipe', timeout: 300_000 });
      continue;
    }
    const fromRoot = step.fromStage ? stageDirs.get(step.fromStage) : REPO_ROOT;
    assert.ok(fromRoot, `COPY --from=${step.fromStage} names a stage that ran before`);
    for (const source of step.sources) {
      const src = step.fromStage ? join(fromRoot!, source.replace(imageWorkdir === '/' ? /^$/ : new RegExp(`^${imageWorkdir}/?`), '')) : join(fromRoot!, source);
      const dest = step.dest.startsWith('/') ? join(workdir, step.dest.replace(new RegExp(`^${imageWorkdir}/?`), '')) : join(workdir, step.dest);
      const target = step.dest.endsWith('/') || step.sources.length > 1 ? join(dest, source.split('/').pop()!) : dest;
      mkdirSync(join(target, '..'), { recursive: true });
      cpSync(src, target, { recursive: true });
    }
  }
  stageDirs.set(name, workdir);
}

dockerfile('builder then runtime stage: the image\'s entrypoint starts, passes /healthz and forwards traffic', async () => {
  await requireBroker();
  const scratch = mkdtempSync(join(tmpdir(), 'atp-image-'));
  const stages = new Map<string, string>();
  let proxy: ReturnType<typeof spawn> | undefined;
  try {
    const builder = join(scratch, 'builder');
    const runtime = join(scratch, 'runtime');
    mkdirSync(builder);
    mkdirSync(runtime);
    replayStage('builder', builder, stages);
    replayStage('runtime', runtime, stages);
    const last = readDockerfile().stages.at(-1)!;
    const entry = last.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!;
    const argv = (JSON.parse(entry.args) as string[]).map((a) => a.replace(/^\/app\//, `${runtime}/`));
    // Ports the proxy binds itself (0), read back from its log: one taken free beforehand can be given to another process first.
    proxy = spawn(argv[0]!, argv.slice(1), {
      cwd: runtime,
      env: {
        PATH: process.env.PATH, NODE_ENV: 'production', PROXY_LISTEN: '127.0.0.1:0',
        PROXY_UPSTREAM: `amqp://${BROKER_HOST}:${BROKER_PORT}`, METRICS_LISTEN: '127.0.0.1:0',
        ADMIN_LISTEN: 'off', OTEL_TRACES_EXPORTER: 'none',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    proxy.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
    proxy.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
    await waitFor('the image\'s proxy listening', () => /amqp-trace-proxy listening"\}\r?\n/.test(log), 15_000, 100);
    const { listen: port, metrics: metricsPort } = listeningPorts(log);
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      try {
        execSync(`node ${join(runtime, 'healthcheck.cjs')}`, { env: { ...process.env, METRICS_LISTEN: `127.0.0.1:${metricsPort!}` }, stdio: 'pipe' });
        healthy = true;
      } catch {
        // not ready yet
        await sleep(100);
      }
    }
    assert.ok(healthy, 'the HEALTHCHECK command succeeds against the started image');
    await withConnection(`amqp://guest:guest@127.0.0.1:${port}`, async (conn) => {
      const ch = await conn.createChannel();
      const q = (await ch.assertQueue(uniqueName('image'), { exclusive: true })).queue;
      ch.sendToQueue(q, Buffer.from('from the image'));
      const [msg] = await consumeN(ch, q, 1);
      assert.ok(parseTraceParent(String(headersOf(msg!)[Header.traceparent])));
    });
    const devOnly = ['typescript', 'uvu', 'tsx'].filter((d) => {
      try {
        require.resolve(d, { paths: [runtime] });
        return true;
      } catch {
        return false;
      }
    });
    assert.equal(devOnly, [], 'dev dependencies are pruned from the runtime stage');
  } finally {
    proxy?.kill('SIGTERM');
    rmSync(scratch, { recursive: true, force: true });
  }
});

dockerfile.run();
