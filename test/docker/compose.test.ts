/**
 * The network-alias deployment, for real: docker/docker-compose.yml as shipped, with
 * test/docker/compose.local.yml swapping in the locally built images and leaving out the
 * registry-only observability services. The gateway and the Celery worker dial
 * rabbitmq:5672 unchanged; the rollback override gives that name back to the broker while a
 * publisher with confirms keeps sending, and rolling forward takes it back. Both switches
 * are timed (the figures in docs/DEPLOY.md come from this test's output).
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { REPO_ROOT } from '../support/dockerfileSteps';
import {
  IMAGES, IMAGE_TAG, containerHandle, docker, removeLeftovers, requireDocker, runContainer, runName, type Container,
} from '../support/docker';
import { sleep, waitFor } from '../support/wait';

const BASE = join(REPO_ROOT, 'docker/docker-compose.yml');
const BYPASS = join(REPO_ROOT, 'docker/docker-compose.bypass.yml');
const LOCAL = join(REPO_ROOT, 'test/docker/compose.local.yml');
const FORWARD = [BASE, LOCAL];
const ROLLBACK = [BASE, LOCAL, BYPASS];
const PROXY_HEADER = 'x-trace-proxy-published-us';

interface ProbeRecord {
  event: string;
  id: string;
  headers?: Record<string, unknown>;
}

interface Ctx {
  project: string;
  up: boolean;
}

const stack = suite<Ctx>('docker compose: the rabbitmq alias', {} as Ctx);

function compose(files: string[], ...args: string[]): Promise<string> {
  return docker('compose', '--project-directory', join(REPO_ROOT, 'docker'), ...files.flatMap((f) => ['-f', f]), ...args);
}

stack.before(async (ctx) => {
  await requireDocker();
  process.env.ATP_IMAGE_TAG = IMAGE_TAG; // compose.local.yml names this checkout's images
  removeLeftovers();
  ctx.project = runName('compose');
});

stack.after(async (ctx) => {
  if (ctx.up) await compose(ROLLBACK, '-p', ctx.project, 'down', '-v', '--remove-orphans', '-t', '5').catch(() => undefined);
});

stack('docker compose config accepts every compose file: shipped, rollback, and the test override', async ({ project }) => {
  for (const files of [[BASE], [BASE, BYPASS], FORWARD, ROLLBACK]) {
    await compose(files, '-p', project, 'config', '--quiet');
  }
  const merged = await compose(ROLLBACK, '-p', project, 'config', '--format', 'json');
  const model = JSON.parse(merged) as { services: Record<string, { networks: Record<string, { aliases?: string[] } | null> }> };
  assert.equal(model.services['rabbitmq-broker']!.networks.amqp?.aliases, ['rabbitmq']);
  assert.equal(model.services['amqp-trace-proxy']!.networks.amqp?.aliases, ['amqp-trace-proxy-bypassed']);
  assert.not.ok('jaeger' in model.services, 'registry-only services are in a profile that up leaves out');
  assert.is((model.services['otel-collector'] as unknown as { image: string }).image, IMAGES.gateway, 'the Collector\'s stand-in');
});

stack('up --wait: the broker (RabbitMQ 4.0), the proxy holding the alias, the worker, the gateway and a collector stand-in', async (ctx) => {
  const seconds = await timed(() => compose(FORWARD, '-p', ctx.project, 'up', '-d', '--wait', '--no-build'));
  ctx.up = true;
  console.log(`    compose up --wait: ${seconds.toFixed(1)} s`);
  const running = (await compose(FORWARD, '-p', ctx.project, 'ps', '--services', '--status', 'running')).split('\n').sort();
  assert.equal(running, ['amqp-trace-proxy', 'celery-worker', 'gateway', 'otel-collector', 'rabbitmq-broker']);
  assert.is(await resolveFrom(ctx.project, 'celery-worker', 'rabbitmq'), await ipOf(ctx.project, 'amqp-trace-proxy'));
  assert.is(await resolveFrom(ctx.project, 'gateway', 'rabbitmq'), await ipOf(ctx.project, 'amqp-trace-proxy'));
  const celery = await compose(FORWARD, '-p', ctx.project, 'exec', '-T', 'celery-worker', '/usr/bin/python3', '-c', 'import celery; print(celery.__version__)');
  assert.match(celery, /^5\.5\./, 'Debian trixie\'s Celery');
});

stack('gateway → rabbitmq:5672 → worker goes through the proxy: the worker sees the gateway\'s trace, the proxy counts it', async ({ project }) => {
  const before = await proxyMetrics(project);
  const withContext = await share(project, true);
  const without = await share(project, false);
  const seen = await probeRecords(project, [withContext.taskId, without.taskId]);
  const continued = seen.get(withContext.taskId)!.headers ?? {};
  assert.is(continued.traceparent, withContext.traceparent, 'the gateway\'s own context arrives unchanged');
  assert.ok(PROXY_HEADER in continued, 'stamped by the proxy');
  const injected = String(seen.get(without.taskId)!.headers?.traceparent ?? '');
  assert.match(injected, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'a context the proxy added');
  const after = await proxyMetrics(project);
  // Two tasks from the gateway, and the worker's own children of llm.summarize.
  assert.ok(after.published - before.published >= 2, `published ${before.published} -> ${after.published}`);
  assert.ok(after.connections >= 2, `client connections: ${after.connections} (worker and gateway at least)`);
  // One trace at the collector: the gateway's SERVER span and the proxy's spans under it.
  const trace = await collectorSpans(project, (spans) =>
    spans.some((x) => x.serviceName === 'api-gateway' && x.spanId === withContext.spanId) &&
    spans.some((x) => x.serviceName === 'amqp-trace-proxy' && x.traceId === withContext.traceId && x.parentSpanId === withContext.spanId));
  const services = new Set(trace.filter((x) => x.traceId === withContext.traceId).map((x) => x.serviceName));
  assert.equal([...services].sort(), ['amqp-trace-proxy', 'api-gateway']);
});

stack('rollback gives the alias to the broker while confirms flow, forward takes it back; no confirmed message lost', async ({ project }) => {
  const publisher = await runContainer(`${project}-publisher`, IMAGES.gateway, [
    '--network', `${project}_amqp`, '--entrypoint', 'node', '-e', 'NODE_PATH=/app/node_modules',
    '-v', `${join(REPO_ROOT, 'test/support/confirmPublisher.cjs')}:/publisher.cjs:ro`,
  ], ['/publisher.cjs']);
  try {
    await waitFor('the publisher gets confirms through the proxy', orNotYet(async () => (await confirms(publisher)).length >= 50), 30_000, 250);

    const rollbackStart = Date.now();
    const rollbackSeconds = await timed(() => compose(ROLLBACK, '-p', project, 'up', '-d', '--wait', '--no-build'));
    const rollbackDone = Date.now();
    assert.is(await resolveFrom(project, 'celery-worker', 'rabbitmq'), await ipOf(project, 'rabbitmq-broker'));
    await waitFor('confirms resume after the rollback', orNotYet(async () => (await confirms(publisher)).some((c) => c.t > rollbackDone + 1000)), 60_000, 250);
    const bypassed = await share(project, false);
    const bypassedSeen = (await probeRecords(project, [bypassed.taskId])).get(bypassed.taskId)!;
    assert.not.ok(PROXY_HEADER in (bypassedSeen.headers ?? {}), 'after rollback the worker gets tasks straight from the broker');

    const forwardStart = Date.now();
    const forwardSeconds = await timed(() => compose(FORWARD, '-p', project, 'up', '-d', '--wait', '--no-build'));
    const forwardDone = Date.now();
    assert.is(await resolveFrom(project, 'celery-worker', 'rabbitmq'), await ipOf(project, 'amqp-trace-proxy'));
    await waitFor('confirms resume after rolling forward', orNotYet(async () => (await confirms(publisher)).some((c) => c.t > forwardDone + 1000)), 60_000, 250);
    const traced = await share(project, false);
    assert.ok(PROXY_HEADER in ((await probeRecords(project, [traced.taskId])).get(traced.taskId)!.headers ?? {}), 'traced again');

    await docker('stop', '-t', '15', publisher.name);
    const confirmed = await confirms(publisher);
    const rollbackGap = longestGap(confirmed, rollbackStart, rollbackDone);
    const forwardGap = longestGap(confirmed, forwardStart, forwardDone);
    console.log(`    rollback: up --wait ${rollbackSeconds.toFixed(1)} s, longest pause between confirms ${rollbackGap.toFixed(1)} s`);
    console.log(`    forward:  up --wait ${forwardSeconds.toFixed(1)} s, longest pause between confirms ${forwardGap.toFixed(1)} s`);
    console.log(`    ${confirmed.length} messages confirmed across ${new Set(confirmed.map((c) => c.conn)).size} connections`);

    const delivered = await drainQueue(project, 'rollback-check');
    const missing = confirmed.filter((c) => !delivered.has(c.seq)).map((c) => c.seq);
    assert.equal(missing, [], 'every confirmed message is in the queue');
    const direct = confirmed.filter((c) => c.t > rollbackDone && c.t < forwardStart);
    const proxied = confirmed.filter((c) => c.t > forwardDone);
    assert.ok(direct.length > 0 && proxied.length > 0, `${direct.length} confirmed while bypassed, ${proxied.length} after forward`);
    assert.ok(direct.every((c) => !delivered.get(c.seq)!.stamped), 'published while bypassed: not touched by the proxy');
    assert.ok(proxied.every((c) => delivered.get(c.seq)!.stamped), 'published after forward: traced by the proxy');
  } finally {
    await publisher.remove();
  }
});

// ---- helpers --------------------------------------------------------------------------

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** A check that fails (a container not up yet, a command that exits non-zero) counts as not yet. */
const orNotYet = (check: () => Promise<boolean>) => (): Promise<boolean> => check().catch(() => false);

async function serviceContainer(project: string, service: string): Promise<Container> {
  return containerHandle(await compose(FORWARD, '-p', project, 'ps', '-q', service));
}

async function ipOf(project: string, service: string): Promise<string> {
  const c = await serviceContainer(project, service);
  return (await c.inspect<Record<string, { IPAddress: string }>>('.NetworkSettings.Networks'))[`${project}_amqp`]!.IPAddress;
}

/** What a name resolves to inside a service's container (Docker's embedded DNS). */
async function resolveFrom(project: string, service: string, name: string): Promise<string> {
  const out = await compose(FORWARD, '-p', project, 'exec', '-T', service, 'getent', 'hosts', name);
  return out.split(/\s+/)[0] ?? '';
}

/** What the gateway answers a POST /shares with (demo/gateway.ts ShareResult). */
interface ShareReply {
  taskId: string;
  traceId: string;
  spanId: string;
  traceparent?: string;
}

/** POST /shares on the gateway (it listens on its container's loopback), retried while it reconnects. */
async function share(project: string, withTraceparent: boolean): Promise<ShareReply> {
  const script = `fetch('http://127.0.0.1:3000/shares',{method:'POST',body:JSON.stringify({contentId:'c-compose',withTraceparent:${withTraceparent}})})` +
    '.then(async r=>{const t=await r.text();if(r.status!==202)throw new Error(r.status+" "+t);console.log(t)})' +
    '.catch(e=>{console.error(e.message);process.exit(1)})';
  let last: Error | undefined;
  for (let i = 0; i < 60; i++) {
    try {
      return JSON.parse(await compose(FORWARD, '-p', project, 'exec', '-T', 'gateway', 'node', '-e', script)) as ShareReply;
    } catch (err) {
      last = err as Error;
      await sleep(500);
    }
  }
  throw last!;
}

/** The worker's probe records (demo/worker/probe.py) of the given tasks, once each has run. */
async function probeRecords(project: string, taskIds: string[]): Promise<Map<string, ProbeRecord>> {
  const found = new Map<string, ProbeRecord>();
  await waitFor(`the worker runs tasks ${taskIds.join(', ')}`, orNotYet(async () => {
    const text = await compose(FORWARD, '-p', project, 'exec', '-T', 'celery-worker', 'cat', '/tmp/probe.jsonl');
    for (const line of text.split('\n').filter(Boolean)) {
      const rec = JSON.parse(line) as ProbeRecord;
      if (rec.event === 'prerun' && taskIds.includes(rec.id)) found.set(rec.id, rec);
    }
    return found.size === taskIds.length;
  }), 60_000, 250);
  return found;
}

async function proxyMetrics(project: string): Promise<{ published: number; connections: number }> {
  const port = (await compose(FORWARD, '-p', project, 'port', 'amqp-trace-proxy', '9464')).split(':').pop();
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string): number => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
  return { published: value('amqp_trace_proxy_messages_published_total'), connections: value('amqp_trace_proxy_client_connections') };
}

interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  serviceName: string;
  name: string;
}

/** The spans the collector stand-in received (test/support/otlpCollectorStandIn.ts), once `done` holds. */
async function collectorSpans(project: string, done: (spans: CollectedSpan[]) => boolean): Promise<CollectedSpan[]> {
  let spans: CollectedSpan[] = [];
  await waitFor('the collector stand-in receives the trace', orNotYet(async () => {
    const out = await compose(FORWARD, '-p', project, 'exec', '-T', 'otel-collector', 'node', '-e',
      "fetch('http://127.0.0.1:8080/').then(r=>r.text()).then(t=>process.stdout.write(t))");
    spans = JSON.parse(out) as CollectedSpan[];
    return done(spans);
  }), 60_000, 250);
  return spans;
}

interface Confirm {
  t: number;
  seq: number;
  conn: number;
}

async function confirms(publisher: Container): Promise<Confirm[]> {
  return (await publisher.logs()).split('\n').filter((l) => l.includes('"confirmed"'))
    .map((l) => JSON.parse(l) as { t: number; confirmed: number; conn: number })
    .map((e) => ({ t: e.t, seq: e.confirmed, conn: e.conn }));
}

/** The longest time without a confirm, in seconds, from just before `from` to `to`. */
function longestGap(confirmed: Confirm[], from: number, to: number): number {
  const times = confirmed.map((c) => c.t).filter((t) => t >= from - 1000);
  let last = times[0] ?? from;
  let gap = 0;
  for (const t of times) {
    if (last > to) break;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return gap / 1000;
}

/** Every message in the queue, read from the broker directly: seq -> whether the proxy stamped it. */
async function drainQueue(project: string, queue: string): Promise<Map<number, { stamped: boolean }>> {
  const port = (await compose(FORWARD, '-p', project, 'port', 'rabbitmq-broker', '5672')).split(':').pop();
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  try {
    const ch = await conn.createChannel();
    const out = new Map<number, { stamped: boolean }>();
    for (let msg = await ch.get(queue, { noAck: true }); msg; msg = await ch.get(queue, { noAck: true })) {
      const { seq } = JSON.parse(msg.content.toString()) as { seq: number };
      out.set(seq, { stamped: PROXY_HEADER in (msg.properties.headers ?? {}) });
    }
    return out;
  } finally {
    await conn.close();
  }
}

stack.run();
