/**
 * Injection scenarios through the real HTTP handler: AdmissionReview in, JSONPatch out,
 * the patch applied with an independent RFC 6902 applier, the result checked against the
 * core/v1 schema, and a second review of the patched pod (reinvocation) yielding no patch.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  container, envOf, podProblems, reviewPod, startWebhook, type PodJson, type Reviewed, type RunningWebhook,
} from '../../support/webhookClient';

let hook: RunningWebhook;

test.before(async () => {
  hook = await startWebhook();
});
test.after(async () => {
  await hook.stop();
});

interface PodOptions {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  initContainers?: PodJson['spec']['containers'];
  volumes?: { name: string; [k: string]: unknown }[];
  ports?: { containerPort: number; name?: string }[];
  extra?: Record<string, unknown>;
}

function pod(o: PodOptions = {}): PodJson {
  const metadata: PodJson['metadata'] = { generateName: 'orders-7d9f8-' };
  if (o.annotations) metadata.annotations = o.annotations;
  if (o.labels) metadata.labels = o.labels;
  const app: PodJson['spec']['containers'][number] = { name: 'orders', image: 'registry.example.com/orders:2.3.1' };
  if (o.env) app.env = o.env;
  if (o.ports) app.ports = o.ports;
  const spec: PodJson['spec'] = { containers: [app], ...(o.extra ?? {}) };
  if (o.initContainers) spec.initContainers = o.initContainers;
  if (o.volumes) spec.volumes = o.volumes;
  return { metadata, spec };
}

const BROKER = 'amqp://orders:s3cret@rabbitmq.messaging.svc:5672/';

/** Injected, valid, and a second pass over the patched pod changes nothing. */
async function expectInjected(r: Reviewed, path = '/mutate', index = 0): Promise<void> {
  assert.ok(r.ops.length > 0, 'a patch');
  assert.equal(podProblems(r.pod), []);
  const sidecar = r.pod.spec.initContainers?.[index];
  assert.is(sidecar?.name, 'amqp-trace-proxy', `sidecar at init container ${index}`);
  assert.is(sidecar?.restartPolicy, 'Always', 'native sidecar');
  assert.is(r.pod.metadata.annotations?.['amqp-trace-proxy.io/status'], 'injected');
  assert.is(r.pod.metadata.labels?.['amqp-trace-proxy.io/injected'], 'true');
  const again = await reviewPod(hook.port, r.pod, path);
  assert.equal(again.ops, [], 'reinvocation yields no patch');
  assert.is(again.response.patch, undefined);
}

test('namespace opted in: a pod without annotations is injected and pointed at the sidecar', async () => {
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'AMQP_URL', value: BROKER }, { name: 'LOG_LEVEL', value: 'debug' }] }));
  await expectInjected(r);
  const app = container(r.pod, 'orders');
  assert.is(envOf(app, 'AMQP_URL'), 'amqp://orders:s3cret@127.0.0.1:5673/');
  assert.is(envOf(app, 'LOG_LEVEL'), 'debug');
  const sidecar = container(r.pod, 'amqp-trace-proxy');
  assert.is(envOf(sidecar, 'PROXY_UPSTREAM'), 'amqp://rabbitmq.messaging.svc:5672');
  assert.is(envOf(sidecar, 'PROXY_LISTEN'), '127.0.0.1:5673');
  assert.is(envOf(sidecar, 'PROXY_MODE_FILE'), '/etc/amqp-trace-proxy/mode');
  assert.is(envOf(sidecar, 'OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://otel-collector.observability:4317');
  assert.is(sidecar.image, 'registry.example.com/platform/amqp-trace-proxy:0.1.0');
  assert.equal(sidecar.volumeMounts, [{ name: 'amqp-trace-proxy-mode', mountPath: '/etc/amqp-trace-proxy', readOnly: true }]);
  assert.equal(r.pod.spec.volumes, [
    { name: 'amqp-trace-proxy-mode', configMap: { name: 'amqp-trace-proxy-mode', optional: true, items: [{ key: 'mode', path: 'mode' }] } },
  ]);
  assert.is(r.pod.metadata.annotations?.['amqp-trace-proxy.io/rewritten-env'], 'orders/AMQP_URL');
  assert.is(r.response.warnings, undefined);
  const probes = sidecar as unknown as Record<string, { httpGet: { path: string; port: number } }>;
  assert.is(probes['livenessProbe']?.httpGet.path, '/healthz');
  assert.is(probes['readinessProbe']?.httpGet.path, '/readyz');
  assert.is(probes['startupProbe']?.httpGet.path, '/readyz');
});

test('the sidecar environment and the logs never carry the credentials', async () => {
  const before = hook.logs.length;
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'AMQP_URL', value: 'amqp://svc:Pa55word-xyz@broker:5672/' }] }));
  const sidecar = container(r.pod, 'amqp-trace-proxy');
  assert.not.ok(JSON.stringify(sidecar).includes('Pa55word-xyz'), 'sidecar spec');
  const logged = JSON.stringify(hook.logs.slice(before));
  assert.ok(logged.includes('admission reviewed'), 'the review is logged');
  assert.not.ok(logged.includes('Pa55word-xyz'), 'logs');
  assert.ok(logged.includes('amqp://broker:5672'), 'the upstream (no credentials) is logged');
});

test('pod opt-in annotation through /mutate/opt-in; without it nothing happens', async () => {
  const env = [{ name: 'CELERY_BROKER_URL', value: 'amqp://guest:guest@rabbitmq:5672//' }];
  const optedIn = await reviewPod(hook.port, pod({ env, annotations: { 'amqp-trace-proxy.io/inject': 'true' } }), '/mutate/opt-in');
  await expectInjected(optedIn, '/mutate/opt-in');
  assert.is(envOf(container(optedIn.pod, 'orders'), 'CELERY_BROKER_URL'), 'amqp://guest:guest@127.0.0.1:5673//');

  const byLabel = await reviewPod(hook.port, pod({ env, labels: { 'amqp-trace-proxy.io/inject': 'true' } }), '/mutate/opt-in');
  await expectInjected(byLabel, '/mutate/opt-in');

  const plain = await reviewPod(hook.port, pod({ env }), '/mutate/opt-in');
  assert.equal(plain.ops, []);
  assert.is(plain.response.warnings, undefined);
});

test('opt-out annotation (or label) in an opted-in namespace: no patch', async () => {
  const env = [{ name: 'AMQP_URL', value: BROKER }];
  for (const where of ['annotations', 'labels'] as const) {
    const r = await reviewPod(hook.port, pod({ env, [where]: { 'amqp-trace-proxy.io/inject': 'false' } }));
    assert.equal(r.ops, [], where);
    assert.is(r.response.patchType, undefined);
  }
});

test('already injected (native sidecar or a regular container of that name): no patch', async () => {
  const env = [{ name: 'AMQP_URL', value: 'amqp://u:p@127.0.0.1:5673/' }];
  const asInit = pod({ env, initContainers: [{ name: 'amqp-trace-proxy', image: 'x', restartPolicy: 'Always' }] });
  assert.equal((await reviewPod(hook.port, asInit)).ops, []);
  const asContainer = pod({ env });
  asContainer.spec.containers.push({ name: 'amqp-trace-proxy', image: 'x' });
  assert.equal((await reviewPod(hook.port, asContainer)).ops, []);
});

test('credentials, vhost and query survive byte for byte', async () => {
  const value = 'amqp://svc%40orders:p%3Aa%2Fss@Broker.Prod.svc:5672/orders%2Fprod?heartbeat=30&channel_max=64';
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'BROKER_URL', value }] }));
  await expectInjected(r);
  assert.is(envOf(container(r.pod, 'orders'), 'BROKER_URL'), 'amqp://svc%40orders:p%3Aa%2Fss@127.0.0.1:5673/orders%2Fprod?heartbeat=30&channel_max=64');
  assert.is(envOf(container(r.pod, 'amqp-trace-proxy'), 'PROXY_UPSTREAM'), 'amqp://broker.prod.svc:5672');
});

test('amqps: the app talks plain amqp to the sidecar, the sidecar talks TLS upstream', async () => {
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'AMQP_URL', value: 'amqps://u:p@mq.example.com/prod' }] }));
  await expectInjected(r);
  assert.is(envOf(container(r.pod, 'orders'), 'AMQP_URL'), 'amqp://u:p@127.0.0.1:5673/prod');
  assert.is(envOf(container(r.pod, 'amqp-trace-proxy'), 'PROXY_UPSTREAM'), 'amqps://mq.example.com:5671');
});

test('kombu failover list: every URL rewritten, all of them upstreams', async () => {
  const value = 'amqp://u:p@mq-0.mq:5672//;amqp://u:p@mq-1.mq:5672//';
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'CELERY_BROKER_URL', value }] }));
  await expectInjected(r);
  assert.is(envOf(container(r.pod, 'orders'), 'CELERY_BROKER_URL'), 'amqp://u:p@127.0.0.1:5673//;amqp://u:p@127.0.0.1:5673//');
  assert.is(envOf(container(r.pod, 'amqp-trace-proxy'), 'PROXY_UPSTREAM'), 'amqp://mq-0.mq:5672,amqp://mq-1.mq:5672');
});

test('no matching env var: not injected, the reason recorded on the pod, then stable', async () => {
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'DATABASE_URL', value: 'postgres://db:5432/x' }] }));
  assert.equal(r.ops, [{ op: 'add', path: '/metadata/annotations', value: { 'amqp-trace-proxy.io/status': 'skipped:no-broker-url' } }]);
  assert.is(r.pod.spec.initContainers, undefined, 'no sidecar');
  assert.ok(r.response.warnings?.some((w) => w.includes('AMQP_URL, CELERY_BROKER_URL, BROKER_URL')), 'the warning names the variables searched');
  assert.equal(podProblems(r.pod), []);
  assert.equal((await reviewPod(hook.port, r.pod)).ops, [], 'second pass');
});

test('a broker URL from a Secret is left alone with a warning; the upstream annotation still injects', async () => {
  const fromSecret = { name: 'AMQP_URL', valueFrom: { secretKeyRef: { name: 'mq', key: 'url' } } };
  const skipped = await reviewPod(hook.port, pod({ env: [fromSecret] }));
  assert.is(skipped.pod.spec.initContainers, undefined);
  assert.ok(skipped.response.warnings?.some((w) => w.includes('orders/AMQP_URL comes from a Secret')));

  const pinned = await reviewPod(hook.port, pod({ env: [fromSecret], annotations: { 'amqp-trace-proxy.io/upstream': 'amqps://mq.internal:5671' } }));
  await expectInjected(pinned);
  assert.equal(container(pinned.pod, 'orders').env, [fromSecret], 'the secret reference is untouched');
  assert.is(envOf(container(pinned.pod, 'amqp-trace-proxy'), 'PROXY_UPSTREAM'), 'amqps://mq.internal:5671');
});

test('a bad upstream annotation is ignored without echoing it', async () => {
  const r = await reviewPod(hook.port, pod({
    env: [{ name: 'AMQP_URL', value: BROKER }],
    annotations: { 'amqp-trace-proxy.io/upstream': 'amqp://admin:hunter2@mq:5672/' },
  }));
  await expectInjected(r);
  assert.is(envOf(container(r.pod, 'amqp-trace-proxy'), 'PROXY_UPSTREAM'), 'amqp://rabbitmq.messaging.svc:5672');
  assert.ok(r.response.warnings?.some((w) => w.includes('amqp-trace-proxy.io/upstream')));
  assert.not.ok(JSON.stringify(r.response.warnings).includes('hunter2'));
});

test('env-vars annotation chooses the variables; a second broker is left alone', async () => {
  const r = await reviewPod(hook.port, pod({
    annotations: { 'amqp-trace-proxy.io/env-vars': 'RABBIT_URI, EVENTS_URI' },
    env: [
      { name: 'AMQP_URL', value: BROKER },
      { name: 'RABBIT_URI', value: 'amqp://a:b@mq-a:5672/' },
      { name: 'EVENTS_URI', value: 'amqp://a:b@mq-b:5672/' },
    ],
  }));
  await expectInjected(r);
  const app = container(r.pod, 'orders');
  assert.is(envOf(app, 'AMQP_URL'), BROKER, 'not named in the annotation');
  assert.is(envOf(app, 'RABBIT_URI'), 'amqp://a:b@127.0.0.1:5673/');
  assert.is(envOf(app, 'EVENTS_URI'), 'amqp://a:b@mq-b:5672/', 'another broker');
  assert.ok(r.response.warnings?.some((w) => w.includes('orders/EVENTS_URI points at another broker')));
});

test('existing init containers, volumes and annotations: inserted before, appended, escaped keys', async () => {
  const r = await reviewPod(hook.port, pod({
    env: [{ name: 'AMQP_URL', value: BROKER }],
    annotations: { 'prometheus.io/scrape': 'true', 'a~b/c': 'x' },
    labels: { app: 'orders' },
    initContainers: [{ name: 'declare-queues', image: 'registry.example.com/orders:2.3.1', env: [{ name: 'AMQP_URL', value: BROKER }] }],
    volumes: [{ name: 'cache', emptyDir: {} }],
  }));
  await expectInjected(r);
  assert.equal(r.pod.spec.initContainers?.map((c) => c.name), ['amqp-trace-proxy', 'declare-queues'], 'the proxy starts first');
  assert.is(envOf(container(r.pod, 'declare-queues'), 'AMQP_URL'), 'amqp://orders:s3cret@127.0.0.1:5673/');
  assert.equal(r.pod.spec.volumes?.map((v) => v.name), ['cache', 'amqp-trace-proxy-mode']);
  assert.ok(r.ops.some((op) => op.path === '/metadata/annotations/amqp-trace-proxy.io~1status'), 'the / in the key is escaped');
  assert.is(r.pod.metadata.annotations?.['a~b/c'], 'x');
  assert.is(r.pod.metadata.labels?.['app'], 'orders');
});

test('after existing native sidecars (a mesh proxy), before regular init containers', async () => {
  const r = await reviewPod(hook.port, pod({
    env: [{ name: 'AMQP_URL', value: BROKER }],
    initContainers: [
      { name: 'mesh-proxy', image: 'mesh:1', restartPolicy: 'Always', env: [{ name: 'AMQP_URL', value: BROKER }] },
      { name: 'declare-queues', image: 'registry.example.com/orders:2.3.1', env: [{ name: 'AMQP_URL', value: BROKER }] },
    ],
  }));
  await expectInjected(r, '/mutate', 1);
  assert.equal(r.pod.spec.initContainers?.map((c) => c.name), ['mesh-proxy', 'amqp-trace-proxy', 'declare-queues']);
  assert.is(envOf(container(r.pod, 'mesh-proxy'), 'AMQP_URL'), BROKER, 'starts before the proxy');
  assert.is(envOf(container(r.pod, 'declare-queues'), 'AMQP_URL'), 'amqp://orders:s3cret@127.0.0.1:5673/');
  assert.ok(r.response.warnings?.some((w) => w.includes('mesh-proxy starts before the sidecar')));
});

test('port clash and hostNetwork: not injected, reason recorded', async () => {
  const env = [{ name: 'AMQP_URL', value: BROKER }];
  const clash = await reviewPod(hook.port, pod({ env, ports: [{ containerPort: 9464, name: 'metrics' }] }));
  assert.is(clash.pod.spec.initContainers, undefined);
  assert.is(clash.pod.metadata.annotations?.['amqp-trace-proxy.io/status'], 'skipped:port-conflict');
  const host = await reviewPod(hook.port, pod({ env, extra: { hostNetwork: true } }));
  assert.is(host.pod.spec.initContainers, undefined);
  assert.is(host.pod.metadata.annotations?.['amqp-trace-proxy.io/status'], 'skipped:host-network');
});

test('app ports that do not clash stay, and the sidecar adds only its own', async () => {
  const r = await reviewPod(hook.port, pod({ env: [{ name: 'AMQP_URL', value: BROKER }], ports: [{ containerPort: 8080, name: 'http' }] }));
  await expectInjected(r);
  assert.equal(container(r.pod, 'amqp-trace-proxy').ports, [{ name: 'proxy-metrics', containerPort: 9464, protocol: 'TCP' }]);
});

test('a URL that cannot be rewritten safely is left as it is, with the reason', async () => {
  const r = await reviewPod(hook.port, pod({ env: [
    { name: 'AMQP_URL', value: BROKER },
    { name: 'BROKER_URL', value: 'amqp://u:p@$(MQ_HOST):5672/' },
  ] }));
  await expectInjected(r);
  assert.is(envOf(container(r.pod, 'orders'), 'BROKER_URL'), 'amqp://u:p@$(MQ_HOST):5672/');
  assert.ok(r.response.warnings?.some((w) => w.includes('orders/BROKER_URL not rewritten: the host is a $(VAR) reference')));
});

test.run();
