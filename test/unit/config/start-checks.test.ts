/**
 * Configuration that could only fail once the proxy runs (a listener on a taken address, an
 * exporter endpoint that is not a URL) is refused with the other config errors (exit 2).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../../src/config/config';
import { addressesOverlap } from '../../../src/config/listeners';
import { parseHostPort } from '../../../src/config/options';
import { configProblems } from '../../support/config';

const overlapping: [string, string][] = [
  ['127.0.0.1:9464', '127.0.0.1:9464'],
  ['0.0.0.0:9464', '127.0.0.1:9464'],
  ['127.0.0.1:9464', '0.0.0.0:9464'],
  ['0.0.0.0:9464', '10.1.2.3:9464'],
  ['[::]:9464', '127.0.0.1:9464'],
  ['[::]:9464', '[::1]:9464'],
  ['0.0.0.0:9464', '[::]:9464'],
  [':9464', '127.0.0.1:9464'],
  ['localhost:9464', '127.0.0.1:9464'],
  ['localhost:9464', '[::1]:9464'],
  ['LOCALHOST:9464', 'localhost:9464'],
  ['[::ffff:127.0.0.1]:9464', '127.0.0.1:9464'],
  ['0.0.0.0:9464', 'myhost:9464'],
];
const distinct: [string, string][] = [
  ['127.0.0.1:9464', '127.0.0.1:9465'],
  ['127.0.0.1:0', '127.0.0.1:0'],
  ['0.0.0.0:0', '0.0.0.0:0'],
  ['127.0.0.1:9464', '127.0.0.2:9464'],
  ['127.0.0.1:9464', '[::1]:9464'],
  ['0.0.0.0:9464', '[::1]:9464'],
  ['hosta:9464', 'hostb:9464'],
];

for (const [a, b] of overlapping) {
  test(`${a} and ${b} are one address`, () => {
    assert.ok(addressesOverlap(parseHostPort(a), parseHostPort(b)));
    assert.ok(addressesOverlap(parseHostPort(b), parseHostPort(a)), 'symmetric');
  });
}
for (const [a, b] of distinct) {
  test(`${a} and ${b} are two addresses`, () => {
    assert.not.ok(addressesOverlap(parseHostPort(a), parseHostPort(b)));
    assert.not.ok(addressesOverlap(parseHostPort(b), parseHostPort(a)), 'symmetric');
  });
}

test('two listeners on one address are a config error naming both options', () => {
  const found = configProblems(['--listen', '127.0.0.1:9000', '--metrics-listen', '127.0.0.1:9000']);
  assert.equal(found, [
    '--listen (PROXY_LISTEN) 127.0.0.1:9000 and --metrics-listen (METRICS_LISTEN) 127.0.0.1:9000 are the same address '
      + '(port 9000): give each listener its own port',
  ]);
  const wildcard = configProblems([], { ADMIN_LISTEN: '0.0.0.0:9464' });
  assert.is(wildcard.length, 1, wildcard.join('\n'));
  assert.match(wildcard[0]!, /^--metrics-listen \(METRICS_LISTEN\) 0\.0\.0\.0:9464 and --admin-listen \(ADMIN_LISTEN\) 0\.0\.0\.0:9464/);
  assert.is(configProblems(['--listen', '0.0.0.0:9465']).length, 1, 'the default admin port under the AMQP wildcard');
});

test('a listener turned off or on port 0 collides with nothing', () => {
  assert.equal(configProblems(['--metrics-listen', 'off', '--admin-listen', '0.0.0.0:9464']), []);
  assert.equal(configProblems(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0']), []);
});

test('an upstream that is the proxy itself is refused; a remote broker on the same port number is not', () => {
  const loop = configProblems(['--listen', '0.0.0.0:5673', '--upstream', 'amqp://127.0.0.1:5673']);
  assert.equal(loop, ["--upstream (PROXY_UPSTREAM) 127.0.0.1:5673 is this proxy's own --listen (PROXY_LISTEN) 0.0.0.0:5673: point it at the broker"]);
  assert.is(configProblems(['--listen', '127.0.0.1:5673', '--upstream', 'amqp://localhost:5673']).length, 1);
  assert.equal(configProblems(['--listen', '0.0.0.0:5673', '--upstream', 'amqp://rabbitmq:5673']), []);
  assert.equal(configProblems(['--listen', '0.0.0.0:5673', '--upstream', 'amqp://10.0.0.7:5673']), []);
  assert.equal(configProblems(['--listen', '127.0.0.1:5673', '--upstream', 'amqp://127.0.0.2:5673']), []);
});

test('an upstream on port 0 is refused (every connection would fail)', () => {
  assert.match(configProblems(['--upstream', 'amqp://rabbit:0'])[0]!, /^--upstream: port 0 in "amqp:\/\/rabbit:0"/);
});

test('an unparsable listener is reported once, not again as a collision', () => {
  const found = configProblems(['--listen', 'nope', '--metrics-listen', '0.0.0.0:5673']);
  assert.is(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /^--listen: expected host:port/);
});

test('OTLP endpoints: a URL with http, https or unix, no path', () => {
  for (const ok of ['http://otel-collector:4317', 'https://collector.example:443', 'http://[::1]:4317', 'unix:///run/otel.sock', ' http://c:4317/ ']) {
    assert.equal(configProblems([], { OTEL_EXPORTER_OTLP_ENDPOINT: ok, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: ok }), [], ok);
  }
  const bad: [string, RegExp][] = [
    ['notaurl', /"notaurl" is not a URL: expected the collector's OTLP gRPC address as a URL, e\.g\. http:\/\/otel-collector:4317/],
    ['localhost:4317', /"localhost:4317" is not a URL/],
    ['grpc://collector:4317', /unsupported scheme "grpc:"/],
    ['http://collector:4318/v1/traces', /has a path; gRPC endpoints have none .*not OTLP\/HTTP/],
    ['http://', /is not a URL/],
  ];
  for (const [raw, message] of bad) {
    const found = configProblems([], { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: raw });
    assert.is(found.length, 1, `${raw}: ${found.join('\n')}`);
    assert.match(found[0]!, /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: /);
    assert.match(found[0]!, message);
  }
  const secret = configProblems([], { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://user:hunter2@collector' });
  assert.is(secret.length, 1);
  assert.not.match(secret[0]!, /hunter2/);
});

test('OTEL_EXPORTER_OTLP_PROTOCOL: grpc only, said plainly', () => {
  assert.equal(configProblems([], { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'GRPC' }), []);
  const found = configProblems([], { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' });
  assert.is(found.length, 2, found.join('\n'));
  assert.match(found[0]!, /^OTEL_EXPORTER_OTLP_PROTOCOL: "http\/protobuf" is not supported: the proxy exports OTLP over gRPC only/);
});

test('OTEL_RESOURCE_ATTRIBUTES: decoded pairs, malformed lists refused', () => {
  const c = loadConfig([], { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod, team=a%20b,' });
  assert.equal(c.resourceAttributes, { 'deployment.environment': 'prod', team: 'a b' });
  assert.equal(loadConfig([], {}).resourceAttributes, {});
  assert.match(configProblems([], { OTEL_RESOURCE_ATTRIBUTES: 'a=b,c' })[0]!, /^OTEL_RESOURCE_ATTRIBUTES: "c" is not key=value/);
  assert.match(configProblems([], { OTEL_RESOURCE_ATTRIBUTES: '=b' })[0]!, /"=b" is not key=value/);
  assert.match(configProblems([], { OTEL_RESOURCE_ATTRIBUTES: 'a=%zz' })[0]!, /the value of "a" is not valid percent-encoding/);
});

test('boolean flags work alone, with a value, or with =value', () => {
  assert.is(loadConfig(['--rewrite-on-delivery'], {}).rewriteOnDelivery, true);
  assert.is(loadConfig(['--rewrite-on-delivery', 'false'], { PROXY_REWRITE_ON_DELIVERY: 'true' }).rewriteOnDelivery, false);
  assert.is(loadConfig(['--rewrite-on-delivery=no'], { PROXY_REWRITE_ON_DELIVERY: 'true' }).rewriteOnDelivery, false);
  const c = loadConfig(['--rewrite-on-delivery', '--continuation', 'off', '--destination-labels', '--listen', '127.0.0.1:6000'], {});
  assert.is(c.rewriteOnDelivery, true);
  assert.is(c.continuation, false);
  assert.is(c.destinationLabels, true);
  assert.equal(c.listen, { host: '127.0.0.1', port: 6000 });
  assert.is(loadConfig(['--listen', '127.0.0.1:6000', '--upstream-tls-insecure', '--upstream', 'amqps://b'], {}).upstreamTlsInsecure, true);
  // A value-taking flag at the end still needs its value.
  assert.equal(configProblems(['--rewrite-on-delivery', '--drain-timeout-ms']), ['--drain-timeout-ms: missing value']);
  assert.match(configProblems(['--rewrite-on-delivery=maybe'])[0]!, /^--rewrite-on-delivery: expected true or false/);
});

test('variables the exporter reads itself: malformed headers, compression and certificate files are config errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atp-exporter-env-'));
  try {
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    const https = { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4317' };
    assert.equal(configProblems([], { ...https, OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc, x-tenant=t1', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }), []);
    const headers = configProblems([], { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer s3cret,x-tenant', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'k=%zz' });
    assert.equal(headers, [
      'OTEL_EXPORTER_OTLP_HEADERS: entry 2 is not key=value with a value (the value is not shown)',
      'OTEL_EXPORTER_OTLP_TRACES_HEADERS: entry 1 is not valid percent-encoding',
    ]);
    assert.not.match(headers.join('\n'), /s3cret/);
    assert.equal(configProblems([], { OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'GZIP' }),
      ['OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: expected gzip or none, got "GZIP"']);
    assert.match(configProblems([], { ...https, OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'missing.pem') })[0]!,
      /^OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read ".*missing\.pem" \(ENOENT\)$/);
    assert.match(configProblems([], { ...https, OTEL_EXPORTER_OTLP_CERTIFICATE: junk })[0]!, /^OTEL_EXPORTER_OTLP_CERTIFICATE: /);
    assert.equal(configProblems([], { ...https, OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: junk }),
      ['OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY is set but OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not: both are needed for mutual TLS']);
    assert.match(configProblems([], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_CERTIFICATE: junk })[0]!,
      /^OTEL_EXPORTER_OTLP_CERTIFICATE set, but the OTLP endpoint is not https:\/\//);
    assert.equal(configProblems([], { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }), [], 'not exporting: not read');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OTEL_SDK_DISABLED=true turns span export off (and with it the exporter checks)', () => {
  assert.is(loadConfig([], { OTEL_SDK_DISABLED: 'true' }).tracesExporter, 'none');
  assert.is(loadConfig([], { OTEL_SDK_DISABLED: 'false' }).tracesExporter, 'otlp');
  assert.equal(configProblems([], { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }), []);
  assert.match(configProblems([], { OTEL_SDK_DISABLED: 'perhaps' })[0]!, /^OTEL_SDK_DISABLED: expected true or false/);
});

test('an empty OTEL_* variable is the same as an unset one (OTel SDK specification); an empty PROXY_* one is still an error', () => {
  const empty = Object.fromEntries(['OTEL_SERVICE_NAME', 'OTEL_TRACES_EXPORTER', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG',
    'OTEL_BSP_SCHEDULE_DELAY', 'OTEL_SDK_DISABLED', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_RESOURCE_ATTRIBUTES'].map((name) => [name, ' ']));
  const c = loadConfig([], empty);
  const defaults = loadConfig([], {});
  assert.equal(c, defaults);
  assert.match(configProblems([], { PROXY_LISTEN: '' })[0]!, /^PROXY_LISTEN: expected host:port/);
});

test('OTEL_PROPAGATORS: tracecontext (with or without baggage) is accepted; any propagator the proxy would ignore is an error', () => {
  for (const value of ['tracecontext', 'tracecontext,baggage', ' baggage , TraceContext ']) {
    assert.equal(configProblems([], { OTEL_PROPAGATORS: value }), [], value);
  }
  assert.equal(loadConfig([], {}).propagators, ['tracecontext', 'baggage'], 'the SDK specification\'s default');
  assert.equal(configProblems([], { OTEL_PROPAGATORS: 'tracecontext,b3,jaeger' }), [
    'OTEL_PROPAGATORS: "b3", "jaeger" not supported: the proxy reads and writes W3C trace context only (tracecontext, optionally with baggage); '
    + 'to stop propagating, set ENABLE_TRACE_PROPAGATION=false',
  ]);
  for (const value of ['none', 'baggage']) {
    const [problem, ...more] = configProblems([], { OTEL_PROPAGATORS: value });
    assert.equal(more, [], value);
    assert.match(problem!, /^OTEL_PROPAGATORS: .*ENABLE_TRACE_PROPAGATION=false$/, value);
  }
});

test('OTEL_BSP_MAX_EXPORT_BATCH_SIZE above OTEL_BSP_MAX_QUEUE_SIZE: an error when set so; the queue size when only the queue is smaller', () => {
  assert.equal(configProblems([], { OTEL_BSP_MAX_QUEUE_SIZE: '1000', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2000' }), [
    'OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 2000 is larger than OTEL_BSP_MAX_QUEUE_SIZE (1000): a batch cannot hold more spans than the queue; '
    + 'lower the batch size or raise the queue size',
  ]);
  assert.is(configProblems([], { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '5000' }).length, 1, 'against the default queue (4096) too');
  const small = loadConfig([], { OTEL_BSP_MAX_QUEUE_SIZE: '100' });
  assert.equal([small.bspMaxQueueSize, small.bspMaxExportBatchSize], [100, 100], 'the default batch (512) shrinks to the queue');
  const equal = loadConfig([], { OTEL_BSP_MAX_QUEUE_SIZE: '256', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '256' });
  assert.equal([equal.bspMaxQueueSize, equal.bspMaxExportBatchSize], [256, 256]);
  assert.equal(configProblems([], { OTEL_BSP_MAX_QUEUE_SIZE: 'x', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '9000' }), [
    'OTEL_BSP_MAX_QUEUE_SIZE: expected a whole number, got "x"',
  ], 'an unparsable size is reported once, not compared');
});


test('F14: --admin-listen :PORT is refused with the two addresses an operator may have meant, not bound on every interface', () => {
  for (const [argv, env] of [[['--admin-listen', ':9465'], {}], [[], { ADMIN_LISTEN: ':9465' }]] as [string[], Record<string, string>][]) {
    const problems = configProblems(argv, env);
    assert.is(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, 'has no host: write 127.0.0.1:9465 (loopback, the default) or, to serve every interface on purpose, 0.0.0.0:9465');
  }
  assert.equal(configProblems(['--admin-listen', '0.0.0.0:9466']), [], 'every interface, written out, is allowed');
  assert.equal(configProblems(['--metrics-listen', ':9464']), [], 'the metrics listener keeps :PORT as every interface');
});

test.run();
