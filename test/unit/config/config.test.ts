import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HelpRequested, loadConfig } from '../../../src/config/config';
import { configProblems } from '../../support/config';
import { parseUpstream, redact } from '../../../src/config/upstream';
import { spanLimits } from '../../../src/trace/telemetry';


test('defaults: listen 0.0.0.0:5673, local broker, tracing on, 10% parent-based sampling', () => {
  const c = loadConfig([], {});
  assert.equal(c.listen, { host: '0.0.0.0', port: 5673 });
  assert.equal(c.upstreams.map((u) => u.label), ['127.0.0.1:5672']);
  assert.is(c.tracePropagation, true);
  assert.is(c.sampler, 'parentbased_traceidratio');
  assert.is(c.samplerArg, 0.1);
  assert.is(c.serviceName, 'amqp-trace-proxy');
  assert.equal(c.metricsListen, { host: '0.0.0.0', port: 9464 });
  assert.equal(c.adminListen, { host: '127.0.0.1', port: 9465 });
});

test('flags win over environment, which wins over defaults', () => {
  const c = loadConfig(['--listen', '127.0.0.1:6000', '--trace-propagation=false'], {
    PROXY_LISTEN: '127.0.0.1:7000', ENABLE_TRACE_PROPAGATION: 'true', PROXY_UPSTREAM: 'amqps://user:secret@broker:5671/vh',
  });
  assert.equal(c.listen, { host: '127.0.0.1', port: 6000 });
  assert.is(c.tracePropagation, false);
  assert.equal(c.upstreams, [{ host: 'broker', port: 5671, tls: true, label: 'broker:5671' }]);
});

test('several upstreams, default ports per scheme, IPv6', () => {
  const c = loadConfig([], { PROXY_UPSTREAM: 'amqp://a, amqps://b , amqp://[::1]:5680' });
  assert.equal(c.upstreams.map((u) => [u.label, u.tls]), [['a:5672', false], ['b:5671', true], ['[::1]:5680', false]]);
});

test('every problem is listed at once, never a password', () => {
  const found = configProblems(['--listen', 'nope', '--bogus', '--drain-timeout-ms'], {
    PROXY_UPSTREAM: 'http://user:hunter2@x', OTEL_TRACES_SAMPLER_ARG: '1.5', OTEL_TRACES_SAMPLER: 'sometimes',
    ENABLE_TRACE_PROPAGATION: 'maybe',
  });
  assert.is(found.length, 7, found.join('\n'));
  assert.ok(found.some((p) => p.startsWith('--listen')));
  assert.ok(found.some((p) => p.includes('unknown argument "--bogus"')));
  assert.ok(found.some((p) => p.includes('--drain-timeout-ms: missing value')));
  assert.not.ok(found.join('\n').includes('hunter2'), 'credentials never appear in errors');
});

test('--help documents every flag and environment variable', () => {
  try {
    loadConfig(['--help'], {});
    assert.unreachable('help must be requested');
  } catch (err) {
    assert.instance(err, HelpRequested);
    const text = (err as Error).message;
    for (const name of ['--listen', 'PROXY_LISTEN', '--upstream', 'PROXY_UPSTREAM', 'ENABLE_TRACE_PROPAGATION', 'OTEL_TRACES_SAMPLER_ARG']) {
      assert.ok(text.includes(name), name);
    }
  }
});

test('upstream URLs: credentials are ignored and redacted', () => {
  assert.is(parseUpstream('amqp://guest:guest@rabbit:5672/%2f?heartbeat=10').label, 'rabbit:5672');
  assert.is(redact('amqp://guest:s3cret@rabbit/'), 'amqp://guest:***@rabbit/');
  assert.throws(() => parseUpstream('not a url'), /not a URL/);
});

test('limits of issue 21: state budgets, stamp age and destination label names', () => {
  const d = loadConfig([], {});
  assert.is(d.stateMaxBytes, 64 * 1024 * 1024);
  assert.is(d.connectionStateMaxBytes, 16 * 1024 * 1024);
  assert.is(d.publishStampMaxAgeMs, 3_600_000);
  assert.equal(d.destinationLabelNames, []);
  const c = loadConfig(['--destination-label-names', ' orders, billing-*,,orders '], { PROXY_STATE_MAX_BYTES: '33554432' });
  assert.equal(c.destinationLabelNames, ['orders', 'billing-*']);
  assert.is(c.stateMaxBytes, 32 * 1024 * 1024);
  assert.throws(() => loadConfig(['--connection-state-max-bytes', '1000'], {}), /connection-state-max-bytes/);
});

test.run();

test('span limits are options: validated with the rest, resolved as the SDK does', () => {
  const found = configProblems([], { OTEL_SPAN_LINK_COUNT_LIMIT: 'many', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '-1' });
  assert.is(found.length, 2, found.join('\n'));
  assert.ok(found.some((p) => p.includes('OTEL_SPAN_LINK_COUNT_LIMIT')), found.join('\n'));
  assert.is(spanLimits(loadConfig([], {})), undefined, 'the defaults cut nothing');
  const limits = spanLimits(loadConfig([], { OTEL_ATTRIBUTE_COUNT_LIMIT: '9', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '50', OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: '5' }));
  assert.is(limits?.attributeCountLimit, 9, 'the general limit when the span one is unset');
  assert.is(limits?.attributeValueLengthLimit, 5, 'the span limit wins');
});
