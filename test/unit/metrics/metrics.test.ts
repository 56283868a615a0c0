import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { EVENT_LOOP_MONITOR_MS, NON_COUNTER_TOTALS, createMetrics, type MetricsOptions, type ProxyMetrics } from '../../../src/metrics/metrics';
import { sleep } from '../../support/wait';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the sample lines of a text exposition (no escapes beyond \" and \\ are needed here). */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, val] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = val!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

const sameLabels = (a: Record<string, string>, b: Record<string, string>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** A scrape with a lookup for one series by its exact label set. */
async function scrape(metrics: ProxyMetrics) {
  const text = await metrics.registry.metrics();
  const samples = parseSamples(text);
  return {
    text,
    samples,
    value(name: string, labels: Record<string, string> = {}): number {
      const found = samples.find((s) => s.name === name && sameLabels(s.labels, labels));
      if (found === undefined) {
        const same = samples.filter((s) => s.name === name).map((s) => JSON.stringify(s.labels));
        throw new Error(`no series ${name}${JSON.stringify(labels)}; have ${same.join(' ') || 'none'}`);
      }
      return found.value;
    },
    series(name: string): Sample[] {
      return samples.filter((s) => s.name === name);
    },
  };
}

const P = 'amqp_trace_proxy_';
const plain = (overrides: Partial<MetricsOptions> = {}): ProxyMetrics =>
  createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false, ...overrides });

test('every method moves exactly its own series by the right amount', async () => {
  const m = plain();
  m.connectionAccepted();
  m.connectionAccepted();
  m.connectionAccepted();
  m.connectionClosed();
  m.connectionRefused('draining');
  m.connectionRefused('draining');
  m.upstreamConnectFailed('rabbit-a:5672');
  m.upstreamConnectFailed('rabbit-a:5672');
  m.upstreamConnectFailed('rabbit-b:5672');
  m.traffic('client_to_broker', 3, 1000);
  m.traffic('client_to_broker', 2, 24);
  m.traffic('broker_to_client', 1, 8);
  for (let i = 0; i < 4; i++) m.messagePublished();
  m.messageDelivered();
  m.messageDelivered();
  m.messageReturned();
  m.traceContext('injected');
  m.traceContext('injected');
  m.traceContext('continued_by_parent_task');
  m.failOpen('bad_frame_end');
  m.spansExported(10);
  m.spansExported(5);
  m.spansDropped(3);
  m.inflight('ack', 7);
  m.inflight('ack', 4);
  m.inflightEvicted('task');
  m.inflightEvicted('task', 9);
  m.observeBrokerHop(0.003);
  m.observePublishConfirm(0.2, 'nack');
  m.observeProcess(7, 'reject');
  m.observeProcess(0.0005, 'ack');
  m.setMode('tracing');
  m.telemetryError('span_export');
  m.telemetryError('span_export');

  const s = await scrape(m);
  assert.is(s.value(`${P}client_connections`), 2);
  assert.is(s.value(`${P}client_connections_accepted_total`), 3);
  assert.is(s.value(`${P}client_connections_closed_total`), 1);
  assert.is(s.value(`${P}connections_refused_total`, { reason: 'draining' }), 2);
  assert.is(s.value(`${P}connections_refused_total`, { reason: 'max_connections' }), 0);
  assert.is(s.value(`${P}upstream_connect_failures_total`, { upstream: 'rabbit-a:5672' }), 2);
  assert.is(s.value(`${P}upstream_connect_failures_total`, { upstream: 'rabbit-b:5672' }), 1);
  assert.is(s.value(`${P}frames_total`, { direction: 'client_to_broker' }), 5);
  assert.is(s.value(`${P}bytes_total`, { direction: 'client_to_broker' }), 1024);
  assert.is(s.value(`${P}frames_total`, { direction: 'broker_to_client' }), 1);
  assert.is(s.value(`${P}bytes_total`, { direction: 'broker_to_client' }), 8);
  assert.is(s.value(`${P}messages_published_total`), 4);
  assert.is(s.value(`${P}messages_delivered_total`), 2);
  assert.is(s.value(`${P}messages_returned_total`), 1);
  assert.is(s.value(`${P}trace_context_total`, { outcome: 'injected' }), 2);
  assert.is(s.value(`${P}trace_context_total`, { outcome: 'continued_by_parent_task' }), 1);
  assert.is(s.value(`${P}trace_context_total`, { outcome: 'continued' }), 0);
  assert.is(s.value(`${P}fail_open_total`, { reason: 'bad_frame_end' }), 1);
  assert.is(s.value(`${P}fail_open_total`, { reason: 'decode_error' }), 0);
  assert.is(s.value(`${P}spans_exported_total`), 15);
  assert.is(s.value(`${P}spans_dropped_total`), 3);
  assert.is(s.value(`${P}inflight_spans`, { map: 'ack' }), 4, 'a gauge is set, not added');
  assert.is(s.value(`${P}inflight_spans`, { map: 'confirm' }), 0);
  assert.is(s.value(`${P}inflight_evictions_total`, { map: 'task' }), 10);
  assert.is(s.value(`${P}tracing_enabled`), 1);
  assert.is(s.value(`${P}telemetry_errors_total`, { where: 'span_export' }), 2);

  assert.is(s.value(`${P}broker_hop_seconds_bucket`, { le: '0.0025' }), 0);
  assert.is(s.value(`${P}broker_hop_seconds_bucket`, { le: '0.005' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_bucket`, { le: '+Inf' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_count`), 1);
  assert.is(s.value(`${P}broker_hop_seconds_sum`), 0.003);
  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'nack' }), 1);
  assert.is(s.value(`${P}publish_confirm_seconds_bucket`, { outcome: 'nack', le: '0.1' }), 0);
  assert.is(s.value(`${P}publish_confirm_seconds_bucket`, { outcome: 'nack', le: '0.25' }), 1);
  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'ack' }), 0);
  assert.is(s.value(`${P}process_seconds_bucket`, { outcome: 'reject', le: '5' }), 0);
  assert.is(s.value(`${P}process_seconds_bucket`, { outcome: 'reject', le: '10' }), 1);
  assert.is(s.value(`${P}process_seconds_sum`, { outcome: 'reject' }), 7);
  assert.is(s.value(`${P}process_seconds_bucket`, { outcome: 'ack', le: '0.001' }), 1);
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'closed' }), 0);
});

test('histograms have buckets from 1 ms to 60 s', async () => {
  const s = await scrape(plain());
  const bounds = s.series(`${P}broker_hop_seconds_bucket`).map((x) => x.labels['le']);
  assert.equal(bounds, ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '+Inf']);
});

test('setMode bypass reports 0', async () => {
  const m = plain();
  m.setMode('tracing');
  m.setMode('bypass');
  assert.is((await scrape(m)).value(`${P}tracing_enabled`), 0);
});

test('counters stay cumulative across scrapes: nothing lost, nothing counted twice', async () => {
  const m = plain();
  m.traffic('client_to_broker', 2, 100);
  m.messagePublished();
  assert.is((await scrape(m)).value(`${P}bytes_total`, { direction: 'client_to_broker' }), 100);
  assert.is((await scrape(m)).value(`${P}bytes_total`, { direction: 'client_to_broker' }), 100, 'a second scrape adds nothing');
  m.traffic('client_to_broker', 1, 50);
  m.messagePublished();
  const s = await scrape(m);
  assert.is(s.value(`${P}bytes_total`, { direction: 'client_to_broker' }), 150);
  assert.is(s.value(`${P}frames_total`, { direction: 'client_to_broker' }), 3);
  assert.is(s.value(`${P}messages_published_total`), 2);
  const json = await m.registry.getMetricsAsJSON();
  const published = json.find((x) => x.name === `${P}messages_published_total`);
  assert.is(published?.values[0]?.value, 2, 'other registry readers see the same totals');
});

test('every fixed label value has a series at 0 before the first event', async () => {
  const s = await scrape(plain());
  const labelsOf = (name: string, label: string) => s.series(name).map((x) => x.labels[label]).sort();
  assert.equal(labelsOf(`${P}frames_total`, 'direction'), ['broker_to_client', 'client_to_broker']);
  assert.equal(labelsOf(`${P}trace_context_total`, 'outcome'), [
    'bypassed', 'continued', 'continued_by_correlation', 'continued_by_parent_task', 'injected', 'replaced_invalid', 'skipped_frame_max',
  ]);
  assert.equal(labelsOf(`${P}fail_open_total`, 'reason'), ['bad_frame_end', 'bad_frame_type', 'decode_error', 'oversized_frame', 'unknown_protocol']);
  assert.equal(labelsOf(`${P}connections_refused_total`, 'reason'), ['draining', 'handshake_timeout', 'idle_timeout', 'max_connections', 'upstream_unavailable']);
  assert.equal(labelsOf(`${P}inflight_spans`, 'map'), ['ack', 'attempt', 'channel', 'confirm', 'consumer', 'published', 'queue', 'return', 'rpc', 'task']);
  assert.equal(labelsOf(`${P}process_seconds_count`, 'outcome'), ['ack', 'auto_ack', 'closed', 'nack', 'reject']);
  for (const sample of s.samples) assert.is(sample.value, 0, `${sample.name}${JSON.stringify(sample.labels)}`);
});

test('bad values from callers never throw and never move counters or histograms', async () => {
  const m = plain();
  assert.not.throws(() => {
    m.traffic('client_to_broker', Number.NaN, -1);
    m.traffic('broker_to_client', Infinity, Infinity);
    m.spansExported(-5);
    m.spansDropped(Number.NaN);
    m.inflightEvicted('rpc', -2);
    m.inflight('rpc', -1);
    m.inflight('rpc', Number.NaN);
    m.observeBrokerHop(-0.5);
    m.observePublishConfirm(Number.NaN, 'ack');
    m.observeProcess(Infinity, 'ack');
  });
  const s = await scrape(m);
  assert.is(s.value(`${P}frames_total`, { direction: 'client_to_broker' }), 0);
  assert.is(s.value(`${P}bytes_total`, { direction: 'broker_to_client' }), 0);
  assert.is(s.value(`${P}spans_exported_total`), 0);
  assert.is(s.value(`${P}spans_dropped_total`), 0);
  assert.is(s.value(`${P}inflight_evictions_total`, { map: 'rpc' }), 0);
  assert.is(s.value(`${P}inflight_spans`, { map: 'rpc' }), 0);
  assert.is(s.value(`${P}broker_hop_seconds_count`), 0);
  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'ack' }), 0);
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'ack' }), 0);
  assert.is(s.value(`${P}telemetry_errors_total`, { where: 'metrics_invalid_duration' }), 3);
});

test('without destination labels the histograms have no queue or exchange label at all', async () => {
  const m = plain({ maxDestinationLabels: 10 });
  m.observeBrokerHop(0.01, 'orders');
  m.observePublishConfirm(0.01, 'ack', 'events');
  m.observeProcess(0.01, 'ack', 'orders');
  const s = await scrape(m);
  assert.not.match(s.text, /queue=|exchange=/);
  assert.is(s.value(`${P}broker_hop_seconds_count`), 1);
  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'ack' }), 1);
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'ack' }), 1);
  assert.is(s.value(`${P}destination_labels_overflow_total`, { label: 'queue' }), 0);
});

test('destination labels: first N values kept, later ones become __other__ and are counted', async () => {
  const m = plain({ destinationLabels: true, maxDestinationLabels: 2 });
  m.observeProcess(0.01, 'ack', 'q1');
  m.observeProcess(0.01, 'ack', 'q2');
  m.observeProcess(0.01, 'ack', 'q3');
  m.observeProcess(0.01, 'nack', 'q4');
  m.observeProcess(0.01, 'ack', 'q1');
  m.observeBrokerHop(0.01, 'q2');
  m.observeBrokerHop(0.01, 'q3');
  m.observeBrokerHop(0.01);
  m.observeProcess(0.01, 'ack');
  m.observeProcess(0.01, 'ack', '');
  m.observePublishConfirm(0.01, 'ack', '');
  m.observePublishConfirm(0.01, 'ack', 'events');
  m.observePublishConfirm(0.01, 'nack', 'audit');
  const s = await scrape(m);

  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'ack', queue: 'q1' }), 2);
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'ack', queue: 'q2' }), 1);
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'ack', queue: '__other__' }), 1);
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'nack', queue: '__other__' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: 'q2' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: '__other__' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: '__unknown__' }), 1, 'an unknown queue is neither capped nor overflow');
  assert.is(s.value(`${P}process_seconds_count`, { outcome: 'ack', queue: '__unknown__' }), 2, "no queue or '' (never a real queue name)");
  assert.is(s.value(`${P}destination_labels_overflow_total`, { label: 'queue' }), 3);

  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'ack', exchange: 'amq.default' }), 1, 'the default exchange gets a name');
  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'ack', exchange: 'events' }), 1, 'exchanges have their own cap');
  assert.is(s.value(`${P}publish_confirm_seconds_count`, { outcome: 'nack', exchange: '__other__' }), 1);
  assert.is(s.value(`${P}destination_labels_overflow_total`, { label: 'exchange' }), 1);

  const queues = new Set(s.series(`${P}process_seconds_count`).map((x) => x.labels['queue']));
  assert.equal([...queues].sort(), ['__other__', '__unknown__', 'q1', 'q2']);
});

test('retries, dead letters and redeliveries: counted by reason, per queue with the histograms\' capped labels', async () => {
  const bare = plain({ maxDestinationLabels: 10 });
  // Every series exists before the first event, so increase() sees it.
  let s = await scrape(bare);
  for (const reason of ['rejected', 'expired', 'maxlen', 'delivery_limit', 'other']) {
    assert.is(s.value(`${P}messages_dead_lettered_total`, { reason }), 0, reason);
  }
  assert.is(s.value(`${P}messages_redelivered_total`), 0);
  assert.is(s.value(`${P}task_retries_total`), 0);
  bare.messageDeadLettered('expired', 'ttl-q');
  bare.messageRedelivered('orders');
  bare.taskRetried('llm');
  bare.observeScheduledWait(2, 'worker_hold', 'llm');
  s = await scrape(bare);
  assert.not.match(s.text, /queue=/);
  assert.is(s.value(`${P}messages_dead_lettered_total`, { reason: 'expired' }), 1);
  assert.is(s.value(`${P}messages_redelivered_total`), 1);
  assert.is(s.value(`${P}task_retries_total`), 1);
  assert.is(s.value(`${P}scheduled_wait_seconds_count`, { mechanism: 'worker_hold' }), 1);
  assert.is(s.value(`${P}scheduled_wait_seconds_count`, { mechanism: 'broker_delay' }), 0);

  const labelled = plain({ destinationLabels: true, maxDestinationLabels: 1 });
  labelled.observeProcess(0.01, 'ack', 'orders');
  labelled.messageDeadLettered('rejected', 'orders');
  labelled.messageDeadLettered('rejected', 'billing');
  labelled.messageRedelivered();
  labelled.taskRetried('orders');
  s = await scrape(labelled);
  assert.is(s.value(`${P}messages_dead_lettered_total`, { reason: 'rejected', queue: 'orders' }), 1);
  assert.is(s.value(`${P}messages_dead_lettered_total`, { reason: 'rejected', queue: '__other__' }), 1, 'the cap the histograms use');
  assert.is(s.value(`${P}messages_redelivered_total`, { queue: '__unknown__' }), 1);
  assert.is(s.value(`${P}task_retries_total`, { queue: 'orders' }), 1);
  assert.is(s.value(`${P}destination_labels_overflow_total`, { label: 'queue' }), 1);
});

test('named destinations: only the queues the operator names get label values, however many others came first', async () => {
  const m = plain({ destinationLabels: true, maxDestinationLabels: 50, destinationLabelNames: ['orders', 'billing-*', '(temporary)'] });
  // Generated names first: without the list they would take every one of the 50 values.
  for (let i = 0; i < 60; i++) m.observeBrokerHop(0.01, `amq.gen-${i}`);
  m.observeBrokerHop(0.01, 'orders');
  m.observeBrokerHop(0.01, 'billing-eu');
  m.observeBrokerHop(0.01, '(temporary)');
  m.observeBrokerHop(0.01, 'billing');
  const s = await scrape(m);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: 'orders' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: 'billing-eu' }), 1, 'by prefix');
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: '(temporary)' }), 1);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: '__other__' }), 61, "unnamed ones, 'billing' included (the prefix is 'billing-')");
  assert.is(s.value(`${P}destination_labels_overflow_total`, { label: 'queue' }), 0, 'the cap was not what sent them there');
  const queues = new Set(s.series(`${P}broker_hop_seconds_count`).map((x) => x.labels['queue']));
  assert.equal([...queues].sort(), ['(temporary)', '__other__', 'billing-eu', 'orders']);
});

test('a cap of 0 sends every destination to __other__', async () => {
  const m = plain({ destinationLabels: true, maxDestinationLabels: 0 });
  m.observeBrokerHop(0.01, 'q1');
  const s = await scrape(m);
  assert.is(s.value(`${P}broker_hop_seconds_count`, { queue: '__other__' }), 1);
  assert.is(s.value(`${P}destination_labels_overflow_total`, { label: 'queue' }), 1);
});

test('labels fed by config or callers are capped too', async () => {
  const m = plain();
  for (let i = 0; i < 70; i++) m.upstreamConnectFailed(`rabbit-${i}:5672`);
  for (let i = 0; i < 40; i++) m.telemetryError(`where_${i}`);
  const s = await scrape(m);
  assert.is(s.series(`${P}upstream_connect_failures_total`).length, 65);
  assert.is(s.value(`${P}upstream_connect_failures_total`, { upstream: '__other__' }), 6);
  assert.is(s.value(`${P}telemetry_errors_total`, { where: 'metrics_label_cap' }), 6);
  // metrics_label_cap took one of the 32 `where` slots, so 31 of the 40 fit.
  assert.is(s.value(`${P}telemetry_errors_total`, { where: '__other__' }), 9);
  assert.is(s.series(`${P}telemetry_errors_total`).length, 33);
});

test('rejects a maxDestinationLabels that is not a non-negative integer', () => {
  assert.throws(() => plain({ maxDestinationLabels: -1 }), RangeError);
  assert.throws(() => plain({ maxDestinationLabels: 1.5 }), RangeError);
});

test('each instance has its own registry, and Node process metrics keep their standard names', async () => {
  const a = createMetrics({ destinationLabels: false, maxDestinationLabels: 0 });
  const b = createMetrics({ destinationLabels: false, maxDestinationLabels: 0 });
  assert.is.not(a.registry, b.registry);
  a.messagePublished();
  assert.is((await scrape(a)).value(`${P}messages_published_total`), 1);
  const sb = await scrape(b);
  assert.is(sb.value(`${P}messages_published_total`), 0);
  assert.match(sb.text, /^process_cpu_user_seconds_total /m);
  assert.match(sb.text, /^nodejs_heap_size_used_bytes /m);
  assert.not.match(sb.text, /amqp_trace_proxy_(process_cpu|nodejs)/);
  assert.not.match((await scrape(plain())).text, /process_cpu_user_seconds_total/, 'collectDefault: false leaves them out');
});

test('the event-loop delay gauges sample every 100 ms and still record a stall (issue 24)', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0 });
  metrics.traffic('client_to_broker', 1, 100); // traffic starts the monitor (it rests without)
  await scrape(metrics); // starts a fresh window: the monitor is reset at each scrape
  await sleep(3 * EVENT_LOOP_MONITOR_MS);
  const busyUntil = Date.now() + 4 * EVENT_LOOP_MONITOR_MS;
  while (Date.now() < busyUntil) {
    // a stall: the event loop runs nothing else
  }
  await sleep(2 * EVENT_LOOP_MONITOR_MS);
  const s = await scrape(metrics);
  // Every value includes the sampling period: about 0.1 s with nothing to delay it (0.01 at prom-client's default).
  assert.ok(s.value('nodejs_eventloop_lag_min_seconds') > 0.05, `min ${s.value('nodejs_eventloop_lag_min_seconds')}`);
  // The 400 ms stall is one interval of at least that.
  assert.ok(s.value('nodejs_eventloop_lag_max_seconds') >= 0.4, `max ${s.value('nodejs_eventloop_lag_max_seconds')}`);
  assert.ok(s.value('nodejs_eventloop_lag_p99_seconds') >= 0.4);
});

test('without traffic the event-loop monitor rests: a stall is not sampled and the gauges read 0 (issue 24)', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0 });
  await scrape(metrics);
  const busyUntil = Date.now() + 4 * EVENT_LOOP_MONITOR_MS;
  while (Date.now() < busyUntil) {
    // a stall with no traffic through the proxy
  }
  await sleep(2 * EVENT_LOOP_MONITOR_MS);
  const s = await scrape(metrics);
  for (const g of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) assert.is(s.value(`nodejs_eventloop_lag_${g}_seconds`), 0, g);
  assert.ok(s.value('nodejs_eventloop_lag_seconds') >= 0, 'the scrape-time lag is still served');
});

test('the default metrics are prom-client\'s, by name, type and help', async () => {
  const ours = createMetrics({ destinationLabels: false, maxDestinationLabels: 0 }).registry;
  const stock = new Registry();
  collectDefaultMetrics({ register: stock });
  for (const name of NON_COUNTER_TOTALS) stock.removeSingleMetric(name);
  const shape = async (r: Registry): Promise<string[]> =>
    (await r.getMetricsAsJSON()).filter((m) => !m.name.startsWith(P)).map((m) => `${m.name} ${m.type} ${m.help}`).sort();
  assert.equal(await shape(ours), await shape(stock));
});

test.run();
