import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type * as amqp from 'amqplib';
import { consumeN, withConnection } from '../support/amqp';
import { BROKER_HOST, BROKER_PORT, requireBroker, uniqueName } from '../support/broker';
import { startForwarder } from '../support/forwarder';
import { startOtlpReceiver } from '../support/otlpReceiver';
import { runPromtool } from '../support/promtool';
import { startTestProxy } from '../support/proxy';
import { sleep } from '../support/wait';

type Sample = Map<string, number>;

/** Prometheus text format → "name{labels}" → value (labels as printed). */
function parse(text: string): Sample {
  const samples: Sample = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}

async function scrape(url: string): Promise<{ text: string; samples: Sample }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return { text, samples: parse(text) };
}

const P = 'amqp_trace_proxy_';
const metrics = suite('Prometheus metrics after real traffic');

metrics('counters and histograms move by exactly what went through', async () => {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  const proxy = await startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50', METRICS_DESTINATION_LABELS: 'true',
  });
  try {
    const before = (await scrape(proxy.metricsUrl)).samples;
    const delta = (after: Sample, key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    let queue = '';
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      queue = (await ch.assertQueue(uniqueName('metrics'), { exclusive: true })).queue;
      for (let i = 0; i < 10; i++) ch.sendToQueue(queue, Buffer.alloc(100));
      ch.sendToQueue(queue, Buffer.alloc(1), { headers: { traceparent: 'not-valid' } });
      ch.sendToQueue(queue, Buffer.alloc(1), { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
      ch.publish('', uniqueName('nowhere'), Buffer.alloc(1), { mandatory: true });
      await ch.waitForConfirms();
      const got: amqp.ConsumeMessage[] = [];
      await new Promise<void>((resolve) => {
        void ch.consume(queue, (m) => {
          if (!m) return;
          got.push(m);
          if (got.length === 11) ch.nack(m, false, false);
          else ch.ack(m);
          if (got.length === 12) resolve();
        });
      });
      await ch.close();
    });
    await receiver.waitFor((s) => s.length >= 13 + 12 + 12);
    await sleep(100);
    const { text, samples: after } = await scrape(proxy.metricsUrl);
    assert.is(delta(after, `${P}client_connections_accepted_total`), 1);
    assert.is(delta(after, `${P}messages_published_total`), 13);
    assert.is(delta(after, `${P}messages_delivered_total`), 12);
    assert.is(delta(after, `${P}messages_returned_total`), 1);
    assert.is(delta(after, `${P}trace_context_total{outcome="injected"}`), 11);
    assert.is(delta(after, `${P}trace_context_total{outcome="replaced_invalid"}`), 1);
    assert.is(delta(after, `${P}trace_context_total{outcome="continued"}`), 1);
    assert.is(delta(after, `${P}publish_confirm_seconds_count{outcome="ack",exchange="amq.default"}`), 13);
    // The queue is exclusive: like span names, the label carries a fixed word, not its name.
    assert.ok(queue !== '' && !text.includes(queue), 'a temporary queue\'s name is no label value');
    const label = '(temporary)';
    assert.is(delta(after, `${P}broker_hop_seconds_count{queue="${label}"}`), 12);
    assert.is(delta(after, `${P}process_seconds_count{outcome="ack",queue="${label}"}`), 11);
    assert.is(delta(after, `${P}process_seconds_count{outcome="nack",queue="${label}"}`), 1);
    assert.is(delta(after, `${P}broker_hop_seconds_bucket{le="60",queue="${label}"}`), 12, 'every hop under a minute');
    assert.ok(delta(after, `${P}frames_total{direction="client_to_broker"}`) >= 13 * 3);
    assert.ok(delta(after, `${P}bytes_total{direction="broker_to_client"}`) >= 10 * 100);
    assert.ok(delta(after, `${P}spans_exported_total`) >= 37, `exported ${delta(after, `${P}spans_exported_total`)}`);
    assert.is(after.get(`${P}client_connections`), 0);
    assert.is(after.get(`${P}inflight_spans{map="ack"}`), 0);
    assert.is(after.get(`${P}inflight_spans{map="confirm"}`), 0);
    const check = runPromtool(['check', 'metrics'], text);
    assert.is(check.status, 0, `promtool check metrics on a real scrape:\n${check.stdout}${check.stderr}`);
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

metrics('/readyz fails while the upstream is down and recovers when it returns; /healthz stays up', async () => {
  const forwarder = await startForwarder(BROKER_HOST, BROKER_PORT);
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${forwarder.port}` });
  try {
    const status = async (path: string): Promise<number> => (await fetch(`${proxy.metricsUrl}${path}`)).status;
    // /readyz reuses a broker check for 1 s (at most one probe connection per second).
    const becomes = async (expected: number): Promise<void> => {
      const until = Date.now() + 3000;
      while ((await status('/readyz')) !== expected) {
        assert.ok(Date.now() < until, `/readyz did not become ${expected} within 3 s`);
        await sleep(100);
      }
    };
    assert.is(await status('/readyz'), 200);
    await forwarder.down();
    await becomes(503);
    assert.is(await status('/healthz'), 200);
    await forwarder.up();
    await becomes(200);
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createChannel();
      const q = (await ch.assertQueue(uniqueName('ready'), { exclusive: true })).queue;
      ch.sendToQueue(q, Buffer.from('ok'));
      assert.is((await consumeN(ch, q, 1)).length, 1);
    });
  } finally {
    await proxy.stop();
    await forwarder.close();
  }
});

metrics.run();
