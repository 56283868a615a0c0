import { createServer } from 'node:net';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { parseWebhookArgs, runWebhookCommand, WEBHOOK_HELP } from '../../../src/webhook/cli';
import { SIDECAR_NODE_OPTIONS, sidecarContainer } from '../../../src/webhook/sidecar';
import { call } from '../../support/webhookClient';
import { sleep } from '../../support/wait';

const IMAGE = ['--sidecar-image', 'registry.example.com/amqp-trace-proxy:0.1.0'];

test('defaults', () => {
  const r = parseWebhookArgs(IMAGE, {});
  assert.is(r.kind, 'ok');
  if (r.kind !== 'ok') return;
  assert.equal(r.config.listen, { host: '0.0.0.0', port: 8443 });
  assert.is(r.config.tls, undefined);
  assert.equal(r.config.settings.envVarNames, ['AMQP_URL', 'CELERY_BROKER_URL', 'BROKER_URL']);
  assert.is(r.config.settings.rewriteHost, '127.0.0.1');
  assert.is(r.config.settings.modeConfigMap, 'amqp-trace-proxy-mode');
  assert.is(r.config.settings.imagePullPolicy, 'IfNotPresent');
});

test('environment, then flags override it; --flag=value and repeated --sidecar-env', () => {
  const env = { WEBHOOK_LISTEN: '127.0.0.1:9443', WEBHOOK_SIDECAR_IMAGE: 'from-env:1', WEBHOOK_ENV_VARS: 'MQ_URL', WEBHOOK_TLS_CERT: '/c', WEBHOOK_TLS_KEY: '/k' };
  const r = parseWebhookArgs(['--listen=[::]:8443', '--sidecar-env', 'OTEL_TRACES_SAMPLER_ARG=0.1', '--sidecar-env=OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317', '--rewrite-host', '::1'], env);
  assert.is(r.kind, 'ok');
  if (r.kind !== 'ok') return;
  assert.equal(r.config.listen, { host: '::', port: 8443 });
  assert.equal(r.config.tls, { certFile: '/c', keyFile: '/k' });
  assert.is(r.config.settings.sidecarImage, 'from-env:1');
  assert.equal(r.config.settings.envVarNames, ['MQ_URL']);
  assert.is(r.config.settings.rewriteHost, '::1');
  assert.equal(r.config.settings.sidecarEnv, [['OTEL_TRACES_SAMPLER_ARG', '0.1'], ['OTEL_EXPORTER_OTLP_ENDPOINT', 'http://c:4317']]);
});

test('--help wins', () => {
  assert.equal(parseWebhookArgs(['--bogus', '--help'], {}), { kind: 'help' });
  for (const flag of ['--listen', '--tls-cert', '--sidecar-image', '--sidecar-env', '--env-vars', '--mode-configmap', '--rewrite-host']) {
    assert.ok(WEBHOOK_HELP.includes(flag), flag);
  }
});

test('every bad value is reported at once', () => {
  const r = parseWebhookArgs([
    '--listen', 'nope', '--tls-cert', '/only-cert', '--sidecar-pull-policy', 'Sometimes', '--sidecar-env', 'PROXY_UPSTREAM=amqp://x',
    '--sidecar-env', 'no-equals', '--env-vars', 'GOOD,1BAD', '--mode-configmap', 'Not_A_Name', '--rewrite-host', 'localhost',
    '--log-level', 'loud', '--frobnicate', 'stray', '--listen', '0.0.0.0:1',
  ], {});
  assert.is(r.kind, 'invalid');
  if (r.kind !== 'invalid') return;
  const text = r.problems.join('\n');
  for (const fragment of [
    '--listen is given more than once', '--tls-cert and --tls-key must be given together', '--sidecar-image (or WEBHOOK_SIDECAR_IMAGE) is required',
    'expected Always, IfNotPresent or Never', 'PROXY_UPSTREAM is set by the webhook', 'expected KEY=VALUE, got "no-equals"', 'not env var names: "1BAD"',
    'is not a valid ConfigMap name', 'expected 127.0.0.1 or ::1, got "localhost"', 'expected one of fatal', 'unknown option --frobnicate',
  ]) {
    assert.ok(text.includes(fragment), `missing: ${fragment}\n${text}`);
  }
});

test('a bad value from the environment names the variable', () => {
  const r = parseWebhookArgs(IMAGE, { WEBHOOK_LISTEN: '0.0.0.0:99999' });
  assert.is(r.kind, 'invalid');
  if (r.kind === 'invalid') assert.ok(r.problems[0]?.startsWith('WEBHOOK_LISTEN:'), r.problems[0]);
});

async function captureStderr(fn: () => Promise<void>): Promise<string> {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = original;
  }
  return text;
}

test('runWebhookCommand: bad configuration exits 2, listing problems including unreadable TLS files', async () => {
  const saved = process.exitCode;
  try {
    const text = await captureStderr(() => runWebhookCommand(['webhook', '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key', '--rewrite-host', 'x'], {}));
    assert.is(process.exitCode, 2);
    assert.ok(text.includes('--sidecar-image (or WEBHOOK_SIDECAR_IMAGE) is required'), text);
    assert.ok(text.includes('--tls-cert: cannot read "/nonexistent/tls.crt" (ENOENT)'), text);
    assert.ok(text.includes('--tls-key: cannot read'), text);
    assert.ok(text.includes('expected 127.0.0.1 or ::1'), text);
  } finally {
    process.exitCode = saved;
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('runWebhookCommand: a port it cannot listen on is one line naming the address and the option, and exit code 1', async () => {
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
  const saved = process.exitCode;
  const handlersBefore = process.listenerCount('SIGTERM');
  try {
    const text = await captureStderr(() => runWebhookCommand(['--log-level', 'silent', ...IMAGE], { WEBHOOK_LISTEN: `127.0.0.1:${port}` }));
    assert.is(process.exitCode, 1);
    assert.is(text, `amqp-trace-proxy webhook: could not start: cannot listen on 127.0.0.1:${port}, set by --listen (WEBHOOK_LISTEN): `
      + 'the address is already in use (by another proxy or another program) [EADDRINUSE]\n');
    assert.is(process.listenerCount('SIGTERM'), handlersBefore, 'it returned without waiting for a signal');
  } finally {
    process.exitCode = saved;
    await new Promise((resolve) => holder.close(resolve));
  }
});

test('runWebhookCommand: serves until SIGTERM, then resolves', async () => {
  const port = await freePort();
  const handlersBefore = process.listenerCount('SIGTERM');
  const running = runWebhookCommand(['--listen', `127.0.0.1:${port}`, ...IMAGE, '--log-level', 'silent'], {});
  let health = 0;
  for (let i = 0; i < 100 && health !== 200; i++) {
    health = await call(port, 'GET', '/healthz').then((r) => r.status, () => 0);
    if (health !== 200) await sleep(20);
  }
  assert.is(health, 200);
  process.emit('SIGTERM', 'SIGTERM');
  await running;
  assert.is(await call(port, 'GET', '/healthz').then(() => 'open', () => 'closed'), 'closed');
  assert.is(process.listenerCount('SIGTERM'), handlersBefore, 'signal handlers removed');
});


test('--sidecar-env-secret: the sidecar env comes from a Secret key (valueFrom.secretKeyRef), never as a literal', () => {
  const r = parseWebhookArgs([...IMAGE, '--sidecar-env-secret', 'OTEL_EXPORTER_OTLP_HEADERS=otel-auth/headers', '--sidecar-env', 'A=1'], {});
  assert.is(r.kind, 'ok');
  if (r.kind !== 'ok') return;
  assert.equal(r.config.settings.sidecarEnv, [['A', '1'], ['OTEL_EXPORTER_OTLP_HEADERS', { secret: 'otel-auth', key: 'headers' }]]);
  const env = sidecarContainer(r.config.settings, ['amqp://mq:5672']).env!;
  assert.equal(env.find((e) => e.name === 'OTEL_EXPORTER_OTLP_HEADERS'), {
    name: 'OTEL_EXPORTER_OTLP_HEADERS', valueFrom: { secretKeyRef: { name: 'otel-auth', key: 'headers' } },
  });
  const overriding = parseWebhookArgs([...IMAGE, '--sidecar-env-secret', 'OTEL_SERVICE_NAME=names/svc'], {});
  assert.is(overriding.kind, 'ok');
  if (overriding.kind !== 'ok') return;
  const service = sidecarContainer(overriding.config.settings, ['amqp://mq:5672']).env!.filter((e) => e.name === 'OTEL_SERVICE_NAME');
  assert.equal(service, [{ name: 'OTEL_SERVICE_NAME', valueFrom: { secretKeyRef: { name: 'names', key: 'svc' } } }], 'replaces the default, no literal left');
});

test('the sidecar runs with the heap settings of issue 24, and --sidecar-env NODE_OPTIONS replaces them', () => {
  const nodeOptions = (args: string[]): unknown[] => {
    const r = parseWebhookArgs([...IMAGE, ...args], {});
    assert.is(r.kind, 'ok');
    if (r.kind !== 'ok') return [];
    return sidecarContainer(r.config.settings, ['amqp://mq:5672']).env!.filter((e) => e.name === 'NODE_OPTIONS');
  };
  assert.equal(nodeOptions([]), [{ name: 'NODE_OPTIONS', value: SIDECAR_NODE_OPTIONS }]);
  assert.match(SIDECAR_NODE_OPTIONS, /--max-old-space-size=\d+/);
  assert.equal(nodeOptions(['--sidecar-env', 'NODE_OPTIONS=--max-old-space-size=400']), [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=400' }]);
});

test('--sidecar-env-secret: a bad reference or a derived name is refused', () => {
  const r = parseWebhookArgs([...IMAGE, '--sidecar-env-secret', 'X=NoSuch_Name/k', '--sidecar-env-secret', 'Y=only-a-name',
    '--sidecar-env-secret', 'Z=a/b/c', '--sidecar-env-secret', 'PROXY_UPSTREAM=s/k'], {});
  assert.is(r.kind, 'invalid');
  if (r.kind !== 'invalid') return;
  assert.is(r.problems.filter((p) => p.includes('expected SECRET/SECRETKEY')).length, 3, r.problems.join('\n'));
  assert.ok(r.problems.some((p) => p.includes('PROXY_UPSTREAM is set by the webhook')));
});

test('limits: defaults, flags and environment; a bad value is refused', () => {
  const r = parseWebhookArgs([...IMAGE, '--max-body-bytes', '2048'], { WEBHOOK_MAX_CONCURRENT_REVIEWS: '2' });
  assert.is(r.kind, 'ok');
  if (r.kind !== 'ok') return;
  assert.equal(r.config.limits, { maxBodyBytes: 2048, maxConcurrentReviews: 2, maxConnections: 64, requestTimeoutMs: 10_000 });
  const bad = parseWebhookArgs([...IMAGE, '--max-body-bytes', '1k', '--request-timeout-ms', '0'], {});
  assert.is(bad.kind, 'invalid');
  if (bad.kind !== 'invalid') return;
  assert.is(bad.problems.length, 2, bad.problems.join('\n'));
});

test.run();
