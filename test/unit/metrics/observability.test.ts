/**
 * The dashboard, the alert rules and docs/METRICS.md against what the proxy really exports.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Method } from '../../../src/amqp/constants';
import { createMetrics } from '../../../src/metrics/metrics';
import { Attr } from '../../../src/trace/attributes';
import { tracerHarness } from '../../support/tracerHarness';

const ROOT = resolve(__dirname, '../../..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const dashboardText = read('observability/grafana-dashboard.json');
const rulesText = read('observability/prometheus-rules.yml');
const metricsDoc = read('docs/METRICS.md');

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { refId: string; datasource: { type: string; uid: string }; expr?: string; queryType?: string; query?: string }[];
}
const dashboard = JSON.parse(dashboardText) as {
  schemaVersion: number;
  uid: string;
  templating: { list: { name: string; type: string; query: unknown }[] };
  panels: Panel[];
  [key: string]: unknown;
};
const rules = parseYaml(rulesText) as {
  groups: { name: string; rules: { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
};

const NAME = /\bamqp_trace_proxy_\w+/g;
const namesIn = (text: string): string[] => [...new Set(text.match(NAME) ?? [])];

/** Family names and the sample names Prometheus stores for them, from the registry's # TYPE lines. */
async function exported(): Promise<{ families: Set<string>; samples: Set<string> }> {
  const text = await createMetrics({ destinationLabels: true, maxDestinationLabels: 10, collectDefault: false }).registry.metrics();
  const families = new Set<string>();
  const samples = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    families.add(name!);
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) samples.add(name + suffix);
  }
  return { families, samples };
}

const promExprs = (): string[] => [
  ...dashboard.panels.flatMap((p) => p.targets.filter((t) => t.datasource.type === 'prometheus').map((t) => t.expr ?? '')),
  ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => JSON.stringify(v.query)),
];
const alert = (name: string) => {
  const found = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
  assert.ok(found, `alert ${name} missing`);
  return found!;
};

test('dashboard imports anywhere: no __inputs, Prometheus and Tempo are datasource variables used by every panel', () => {
  assert.is(dashboard['__inputs'], undefined);
  assert.is(dashboard.schemaVersion, 39);
  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  assert.equal([vars.get('DS_PROMETHEUS')?.type, vars.get('DS_PROMETHEUS')?.query], ['datasource', 'prometheus']);
  assert.equal([vars.get('DS_TEMPO')?.type, vars.get('DS_TEMPO')?.query], ['datasource', 'tempo']);
  const allowed = new Set(['prometheus:${DS_PROMETHEUS}', 'tempo:${DS_TEMPO}']);
  for (const panel of dashboard.panels) {
    assert.ok(allowed.has(`${panel.datasource.type}:${panel.datasource.uid}`), `panel "${panel.title}" datasource ${JSON.stringify(panel.datasource)}`);
    assert.ok(panel.targets.length > 0, `panel "${panel.title}" has no queries`);
    for (const t of panel.targets) {
      assert.equal(t.datasource, panel.datasource, `panel "${panel.title}" ${t.refId} uses another datasource`);
    }
  }
  const uids = [...dashboardText.matchAll(/"uid": "([^"]*)"/g)].map((m) => m[1]);
  assert.equal([...new Set(uids)].sort(), ['${DS_PROMETHEUS}', '${DS_TEMPO}', '-- Grafana --', 'amqp-trace-proxy'].sort(), 'no hard-coded datasource uid');
});

test('dashboard layout: unique panel ids, panels inside 24 columns and not overlapping', () => {
  const ids = dashboard.panels.map((p) => p.id);
  assert.is(new Set(ids).size, ids.length);
  const boxes = dashboard.panels.map((p) => ({ title: p.title, ...p.gridPos }));
  for (const b of boxes) assert.ok(b.x >= 0 && b.w > 0 && b.h > 0 && b.x + b.w <= 24, `${b.title} out of grid`);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i]!;
      const b = boxes[j]!;
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.not.ok(overlap, `"${a.title}" overlaps "${b.title}"`);
    }
  }
});

test('dashboard has the ADR panels: P50/P95 latencies, errors, throughput, connections, fail-open, mode, outcome keeps, service map', () => {
  const exprsOf = (title: RegExp): string => {
    const panel = dashboard.panels.find((p) => title.test(p.title));
    assert.ok(panel, `no panel titled ${title}`);
    return panel!.targets.map((t) => t.expr ?? '').join('\n');
  };
  for (const [title, histogram] of [[/^Broker hop/, 'broker_hop'], [/^Publish → confirm/, 'publish_confirm'], [/^Process latency/, 'process']] as const) {
    const exprs = exprsOf(title);
    assert.match(exprs, `histogram_quantile(0.5, sum by (job, le) (rate(amqp_trace_proxy_${histogram}_seconds_bucket{`);
    assert.match(exprs, `histogram_quantile(0.95, sum by (job, le) (rate(amqp_trace_proxy_${histogram}_seconds_bucket{`);
  }
  const errors = exprsOf(/^Error rate$/);
  assert.match(errors, /publish_confirm_seconds_count\{[^}]*outcome="nack"/);
  assert.match(errors, /messages_returned_total/);
  assert.match(errors, /process_seconds_count\{[^}]*outcome=~"nack\|reject\|closed"/);
  assert.match(exprsOf(/^Throughput$/), /messages_published_total[\s\S]*messages_delivered_total/);
  assert.match(exprsOf(/^Client connections$/), /amqp_trace_proxy_client_connections\{/);
  assert.match(exprsOf(/^Fail-open and dropped spans$/), /fail_open_total[\s\S]*spans_dropped_total/);
  assert.match(exprsOf(/^Tracing mode$/), /amqp_trace_proxy_tracing_enabled\{/);

  const kept = exprsOf(/^Kept by outcome \(/);
  assert.match(kept, /sum by \(job, reason\) \(rate\(amqp_trace_proxy_outcome_kept_total\{/);
  assert.match(kept, /amqp_trace_proxy_outcome_dropped_total\{/);
  assert.match(exprsOf(/^Kept by outcome rule$/), /sum by \(job, rule\) \(increase\(amqp_trace_proxy_outcome_kept_total\{/);
  const failed = dashboard.panels.find((p) => /^Failed messages/.test(p.title));
  assert.ok(failed, 'no Failed messages panel');
  assert.equal(failed!.datasource, { type: 'tempo', uid: '${DS_TEMPO}' });
  const traceql = failed!.targets.map((t) => `${t.queryType} ${t.query ?? ''}`).join('\n');
  assert.match(traceql, /^traceql \{ resource\.service\.name = "\$service" && span\.amqp_trace_proxy\.kept = "error" \}/);
  const known = new Set<string>(Object.values(Attr));
  assert.equal([...traceql.matchAll(/span\.([a-z_.]+[a-z_])/g)].map((m) => m[1]!).filter((a) => !known.has(a)), [], 'attributes the proxy does not write');

  const map = dashboard.panels.find((p) => p.type === 'nodeGraph');
  assert.ok(map, 'no Node Graph panel');
  assert.equal(map!.datasource, { type: 'tempo', uid: '${DS_TEMPO}' });
  assert.equal(map!.targets.map((t) => t.queryType), ['serviceMap']);
});

test('every metric the dashboard and the rules query is one the proxy exports (with _bucket/_sum/_count)', async () => {
  const { samples } = await exported();
  const queried = [...promExprs(), ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr))].flatMap(namesIn);
  assert.ok(queried.length >= 10, `only ${queried.length} names found`);
  assert.equal([...new Set(queried)].filter((n) => !samples.has(n)), [], 'queried names that are not exported samples');
});

test('every metric name mentioned in the dashboard, the rules and docs/METRICS.md exists', async () => {
  const { families, samples } = await exported();
  for (const [file, text] of [['dashboard', dashboardText], ['rules', rulesText], ['docs/METRICS.md', metricsDoc]] as const) {
    const unknown = namesIn(text).filter((n) => !families.has(n) && !samples.has(n));
    assert.equal(unknown, [], `${file} names metrics the proxy does not export`);
  }
});

test('docs/METRICS.md lists every metric the proxy exports', async () => {
  const { families } = await exported();
  const documented = new Set(namesIn(metricsDoc));
  assert.equal([...families].filter((f) => !documented.has(f)), []);
});

test('the two alerts carry severity, summary, description and the runbook anchors in docs/RUNBOOKS.md', () => {
  const base = 'https://github.com/amqp-trace-proxy/amqp-trace-proxy/blob/main/docs/RUNBOOKS.md';
  const p95 = alert('AmqpTraceProxyP95LatencyHigh');
  assert.is(p95.for, '5m');
  assert.is(p95.labels['severity'], 'critical');
  assert.is(p95.annotations['runbook_url'], `${base}#runbook-p95-latency-high`);
  assert.match(p95.expr, /amqp_trace_proxy_process_seconds_bucket/);
  assert.match(p95.expr, /amqp_trace_proxy_broker_hop_seconds_bucket/);
  const failOpen = alert('AmqpTraceProxyFailOpenOrDroppingSpans');
  assert.is(failOpen.labels['severity'], 'warning');
  assert.is(failOpen.annotations['runbook_url'], `${base}#runbook-fail-open-or-dropped-spans`);
  for (const a of [p95, failOpen]) {
    assert.ok(a.annotations['summary'] && a.annotations['description'], `${a.alert} lacks summary or description`);
  }
});

test('span-metrics panels select process and broker_hop spans by the names the proxy makes', () => {
  // Names from the real tracer: a publish, a delivery with its ack, a basic.get.
  const h = tracerHarness();
  h.consume('llm', 'c-1');
  h.publish('', 'llm');
  h.deliver('c-1', 1, '', 'llm');
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  h.get('jobs', 2, 'events', 'user.1.updated');
  h.client(Method.BasicAck, { deliveryTag: 2, multiple: false });
  const spans = h.spans().map((s) => ({ name: s.name, kind: String(s.attributes[Attr.proxySpan]) }));
  const selector = (title: RegExp, kind: string): void => {
    const panel = dashboard.panels.find((p) => title.test(p.title));
    assert.ok(panel, `no panel titled ${title}`);
    const expr = panel!.targets.map((t) => t.expr ?? '').join('\n');
    assert.match(expr, /traces_spanmetrics_latency_bucket\{[^}]*service="\$service"/);
    const regex = /span_name=~"([^"]+)"/.exec(expr)?.[1];
    assert.ok(regex, `${panel!.title} selects spans by name`);
    // PromQL anchors label regexes at both ends.
    const selects = new RegExp(`^(?:${regex})$`);
    for (const s of spans) assert.is(selects.test(s.name), s.kind === kind, `${panel!.title}: "${s.name}" (${s.kind})`);
  };
  assert.ok(spans.length >= 6, spans.map((s) => s.name).join(', '));
  selector(/^Process spans by destination/, 'process');
  selector(/^Broker hop spans by destination/, 'broker_hop');
  assert.ok(dashboard.templating.list.some((v) => v.name === 'service'), 'a $service variable for span metrics');
});

test('the TraceQL panel filters and selects attributes the proxy writes', () => {
  const panel = dashboard.panels.find((p) => p.targets.some((t) => t.queryType === 'traceql'));
  assert.ok(panel, 'no TraceQL panel');
  const query = panel!.targets[0]!.query ?? '';
  const used = [...query.matchAll(/span\.([a-z_.]+[a-z_])/g)].map((m) => m[1]!);
  assert.ok(used.length >= 3, query);
  const known = new Set<string>(Object.values(Attr));
  assert.equal(used.filter((a) => !known.has(a)), [], 'attributes the proxy does not write');
  assert.match(query, /span\.amqp_trace_proxy\.span = "process"/);
});

test.run();
