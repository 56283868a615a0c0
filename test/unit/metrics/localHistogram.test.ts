import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS, LocalHistogram } from '../../../src/metrics/instruments';

/**
 * LocalHistogram stands in for prom-client's Histogram on the data path; what a scrape sees
 * must not change. Each case feeds both the same observations and compares the registries.
 */
type Observation = { labels: Record<string, string>; value: number };

async function both(labelNames: string[], series: Record<string, string>[], observations: Observation[]) {
  const reference = new Registry();
  const local = new Registry();
  const promHistogram = new Histogram({ name: 'h_seconds', help: 'help text', labelNames, buckets: [...LATENCY_BUCKETS], registers: [reference] });
  const localHistogram = new LocalHistogram('h_seconds', 'help text', LATENCY_BUCKETS, local);
  const bySeries = new Map<string, ReturnType<LocalHistogram['createSeries']>>();
  for (const labels of series) {
    promHistogram.zero(labels);
    bySeries.set(JSON.stringify(labels), localHistogram.createSeries(labels));
  }
  for (const { labels, value } of observations) {
    promHistogram.observe(labels, value);
    bySeries.get(JSON.stringify(labels))!.observe(value);
  }
  return {
    text: [await reference.metrics(), await local.metrics()],
    json: [await reference.getMetricsAsJSON(), await local.getMetricsAsJSON()],
  };
}

const VALUES = [0, 0.001, 0.0010001, 0.0025, 0.003, 0.1, 0.7, 59.99, 60, 61, 1e6, 0.1 + 0.2, 1 / 3];

test('no labels: same exposition and JSON as prom-client, bounds inclusive, +Inf past the last', async () => {
  const { text, json } = await both([], [{}], VALUES.map((value) => ({ labels: {}, value })));
  assert.fixture(text[1]!, text[0]!);
  assert.equal(json[1], json[0]);
  assert.match(text[1]!, /h_seconds_bucket\{le="0.001"\} 2\n/);
  assert.match(text[1]!, /h_seconds_bucket\{le="60"\} 11\n/);
  assert.match(text[1]!, /h_seconds_bucket\{le="\+Inf"\} 13\n/);
});

test('outcome and destination labels: same series, order and sums (float addition order kept)', async () => {
  const series = [
    { outcome: 'ack', queue: 'q1' }, { outcome: 'nack', queue: 'q1' },
    { outcome: 'ack', queue: 'with "quotes"\\' }, { outcome: 'nack', queue: 'with "quotes"\\' },
  ];
  const observations = VALUES.flatMap((value, i) => [{ labels: series[i % 4]!, value }, { labels: series[(i + 1) % 4]!, value: value / 7 }]);
  const { text, json } = await both(['outcome', 'queue'], series, observations);
  assert.fixture(text[1]!, text[0]!);
  assert.equal(json[1], json[0]);
});

test('series created but never observed export zeros; none created exports only HELP and TYPE', async () => {
  const zero = await both(['outcome'], [{ outcome: 'ack' }, { outcome: 'nack' }], []);
  assert.fixture(zero.text[1]!, zero.text[0]!);
  const none = await both(['queue'], [], []);
  assert.fixture(none.text[1]!, none.text[0]!);
  assert.equal(none.json[1], none.json[0]);
});

test.run();
