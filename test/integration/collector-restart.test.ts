/**
 * A collector that restarts (answers UNAVAILABLE for a moment, or is gone and back on the
 * same port) costs no spans: the export of the batch in hand is retried with backoff, within
 * half of OTEL_BSP_EXPORT_TIMEOUT, and each retry is counted.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requireBroker, uniqueName } from '../support/broker';
import { consumeN, withConnection } from '../support/amqp';
import { OtlpReceiver, startOtlpReceiver } from '../support/otlpReceiver';
import { stablePort } from '../support/ports';
import { TestProxy, startTestProxy } from '../support/proxy';
import { sleep, waitFor } from '../support/wait';

const restart = suite('collector restart');

async function metric(proxy: TestProxy, pattern: RegExp): Promise<number> {
  return Number(pattern.exec(await (await fetch(`${proxy.metricsUrl}/metrics`)).text())?.[1] ?? 0);
}

/** Publishes `count` confirmed messages with ids `${tag}-i` and consumes them. */
async function traffic(proxy: TestProxy, tag: string, count: number): Promise<void> {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName(tag), { exclusive: true })).queue;
    const received = consumeN(ch, queue, count);
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from('x'), { messageId: `${tag}-${i}` });
    await ch.waitForConfirms();
    await received;
  });
}

const publishesOf = (receiver: OtlpReceiver, tag: string): number =>
  new Set(receiver.spans().filter((s) => s.name.startsWith('publish ') && String(s.attributes['messaging.message.id']).startsWith(`${tag}-`))
    .map((s) => s.attributes['messaging.message.id'])).size;

restart('UNAVAILABLE for 2 s, then a collector stopped and started again on its port: every span arrives, retries counted, none dropped', async () => {
  await requireBroker();
  // The collector comes back on the same port: one no other program is given meanwhile.
  const port = await stablePort();
  let receiver = await startOtlpReceiver({ port });
  const proxy = await startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  try {
    await traffic(proxy, 'before', 10);
    await receiver.waitFor(() => publishesOf(receiver, 'before') === 10);

    receiver.setResponse('unavailable');
    await traffic(proxy, 'refused', 10);
    await sleep(2000);
    receiver.setResponse('ok');
    await receiver.waitFor(() => publishesOf(receiver, 'refused') === 10, 15_000);

    await receiver.close();
    await traffic(proxy, 'gone', 10);
    await sleep(2000);
    receiver = await startOtlpReceiver({ port });
    await receiver.waitFor(() => publishesOf(receiver, 'gone') === 10, 15_000);

    // Counters are buffered for up to a second before /metrics shows them; drops would be flushed with the retries.
    await waitFor('retries counted', async () => (await metric(proxy, /telemetry_errors_total\{where="span_export_retry"\} (\d+)/)) >= 2, 5000, 50);
    assert.is(await metric(proxy, /amqp_trace_proxy_spans_dropped_total (\d+)/), 0, 'no span dropped');
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

restart.run();
