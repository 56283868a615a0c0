/**
 * Checks the rule file, the dashboard's queries and a real scrape with Prometheus' own
 * promtool. promtool missing is a failure (see test/support/promtool.ts), never a skip.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NON_COUNTER_TOTALS, createMetrics, type ProxyMetrics } from '../../../src/metrics/metrics';
import { startHttpServer } from '../../../src/metrics/httpServer';
import { runPromtool } from '../../support/promtool';

const ROOT = resolve(__dirname, '../../..');
const RULES = join(ROOT, 'observability/prometheus-rules.yml');
const RULES_TEST = join(ROOT, 'observability/prometheus-rules.test.yml');
const DASHBOARD = join(ROOT, 'observability/grafana-dashboard.json');

/** One call per ProxyMetrics method; the Record type makes a new method a compile error here. */
function exerciseEveryMetric(m: ProxyMetrics): void {
  const calls: Record<Exclude<keyof ProxyMetrics, 'registry'>, () => void> = {
    connectionAccepted: () => m.connectionAccepted(),
    connectionClosed: () => m.connectionClosed(),
    connectionRefused: () => m.connectionRefused('max_connections'),
    upstreamConnectFailed: () => m.upstreamConnectFailed('rabbit:5672'),
    traffic: () => m.traffic('client_to_broker', 2, 300),
    messagePublished: () => m.messagePublished(),
    messageDelivered: () => m.messageDelivered(),
    messageReturned: () => m.messageReturned(),
    traceContext: () => m.traceContext('continued'),
    failOpen: () => m.failOpen('oversized_frame'),
    unreadFrame: () => m.unreadFrame('unknown_field_type'),
    handshakeAnomaly: () => m.handshakeAnomaly('tune_ok_unasked'),
    spansExported: () => m.spansExported(4),
    spansDropped: () => m.spansDropped(1),
    inflight: () => m.inflight('confirm', 3),
    inflightEvicted: () => m.inflightEvicted('confirm'),
    observeBrokerHop: () => m.observeBrokerHop(0.02, 'orders'),
    publishStampIgnored: () => m.publishStampIgnored('too_old'),
    observePublishConfirm: () => m.observePublishConfirm(0.004, 'ack', ''),
    observeProcess: () => m.observeProcess(1.5, 'nack', 'orders'),
    messageRedelivered: () => m.messageRedelivered('orders'),
    messageDeadLettered: () => m.messageDeadLettered('delivery_limit', 'orders'),
    taskRetried: () => m.taskRetried('orders'),
    observeScheduledWait: () => m.observeScheduledWait(30, 'broker_delay', 'orders'),
    setMode: () => m.setMode('tracing'),
    telemetryError: () => m.telemetryError('span_export'),
    outcomeKept: () => m.outcomeKept('error', 'delivery_reject'),
    outcomeDropped: () => m.outcomeDropped('process_latency'),
  };
  for (const call of Object.values(calls)) call();
  // Past the destination cap of 1, so __other__ and the overflow counter show up too.
  m.observeProcess(0.1, 'ack', 'billing');
}

function withTempDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'amqp-trace-proxy-promtool-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Grafana's built-in and dashboard variables replaced by values PromQL accepts in their place. */
function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '5m')
    .replace(/\$\{\w+(:\w+)?\}|\$\w+/g, '.*');
}

/** Every PromQL expression the dashboard runs: panel targets on Prometheus, and the selectors in label_values() variables. */
function dashboardExpressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const exprs: { where: string; expr: string }[] = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      if (target.datasource?.type === 'prometheus') exprs.push({ where: `panel "${panel.title}" ${target.refId}`, expr: target.expr });
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const match = /^label_values\((.+),\s*\w+\)$/.exec(variable.query.query);
    assert.ok(match, `variable ${variable.name}: expected label_values(selector, label), got ${variable.query.query}`);
    exprs.push({ where: `variable ${variable.name}`, expr: match![1]! });
  }
  return exprs;
}

test('promtool check rules accepts the alert rules', () => {
  const result = runPromtool(['check', 'rules', RULES]);
  assert.is(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /SUCCESS: 2 rules found/);
});

test('promtool test rules: P95 alert after 5 minutes of high latency only; fail-open/dropped-spans alert', () => {
  const result = runPromtool(['test', 'rules', RULES_TEST]);
  assert.is(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /SUCCESS/);
});

test('promtool check metrics accepts a scrape of /metrics after every metric moved', async () => {
  const metrics = createMetrics({ destinationLabels: true, maxDestinationLabels: 1 });
  exerciseEveryMetric(metrics);
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, ready: () => true });
  let text: string;
  try {
    const reply = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.is(reply.status, 200);
    text = await reply.text();
  } finally {
    await server.close();
  }
  assert.match(text, /^amqp_trace_proxy_process_seconds_count\{outcome="ack",queue="__other__"\} 1$/m);
  assert.match(text, /^process_cpu_user_seconds_total /m);

  // Node's process metrics are in the scrape, minus prom-client's gauges named *_total.
  assert.match(text, /^nodejs_active_handles\{type="\w+"\} \d+$/m);
  for (const name of NON_COUNTER_TOTALS) assert.not.match(text, new RegExp(`^${name}`, 'm'));
  const result = runPromtool(['check', 'metrics'], text);
  assert.is(result.status, 0, `promtool check metrics (exit ${result.status}):\n${result.stdout}${result.stderr}`);
});

test('every dashboard query parses as PromQL (one recording rule per query through promtool check rules)', () => {
  const exprs = dashboardExpressions();
  assert.ok(exprs.length >= 15, `only ${exprs.length} expressions found`);
  const rules = {
    groups: [{
      name: 'dashboard-queries',
      rules: exprs.map(({ expr }, i) => ({ record: `dashboard_query_${i}`, expr: substituteGrafanaVariables(expr) })),
    }],
  };
  withTempDir((dir) => {
    const file = join(dir, 'dashboard-queries.rules.yml');
    // JSON is YAML, and promtool reads it as such.
    writeFileSync(file, JSON.stringify(rules, null, 2));
    const result = runPromtool(['check', 'rules', file]);
    const where = exprs.map((e, i) => `dashboard_query_${i}: ${e.where}`).join('\n');
    assert.is(result.status, 0, `${result.stdout}${result.stderr}\n${where}`);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${exprs.length} rules found`));
  });
});

test('the PromQL check catches a broken query (so the test above can fail)', () => {
  withTempDir((dir) => {
    const file = join(dir, 'broken.rules.yml');
    const broken = substituteGrafanaVariables('sum by (job) (rate(amqp_trace_proxy_frames_total{job=~"$job"}[$__rate_interval])');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'g', rules: [{ record: 'broken', expr: broken }] }] }));
    assert.is.not(runPromtool(['check', 'rules', file]).status, 0);
  });
});

test.run();
