/**
 * Consumers continuing the proxy's trace, client by client, as docs/CLIENTS.md describes:
 * an amqplib service with the OpenTelemetry amqplib instrumentation (as consumer, with and
 * without --rewrite-on-delivery, and as an already-instrumented publisher), pika (Debian's
 * python3-pika), @cloudamqp/amqp-client, and amqp-connection-manager configured like NestJS's
 * RMQ transport (noAck, prefetch 0). Celery is covered by celery-direct and celery-journey.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import amqpManager from 'amqp-connection-manager';
import { AMQPClient, type AMQPMessage } from '@cloudamqp/amqp-client';
import { Attr, Header } from '../../src/trace/attributes';
import { consumeN, headersOf, withConnection } from '../support/amqp';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker, uniqueName } from '../support/broker';
import { CELERY_PYTHON } from '../support/celery';
import { OtlpReceiver, ReceivedSpan, startOtlpReceiver } from '../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../support/proxy';
import { startRecordingRelay } from '../support/recordingRelay';

const ROOT = join(__dirname, '..', '..');
const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

interface Ctx { receiver: OtlpReceiver; proxy: TestProxy; rewriting: TestProxy }
const clients = suite<Ctx>('client libraries and consumers through the proxy', {} as Ctx);

clients.before(async (ctx) => {
  await requireBroker();
  ctx.receiver = await startOtlpReceiver();
  const env = {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: ctx.receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'amqp-trace-proxy',
  };
  ctx.proxy = await startTestProxy(env);
  ctx.rewriting = await startTestProxy(env, ['--rewrite-on-delivery']);
});
clients.after(async (ctx) => {
  await ctx.proxy.stop();
  await ctx.rewriting.stop();
  await ctx.receiver.close();
});
clients.before.each((ctx) => ctx.receiver.clear());

/** A queue of the test's own, declared directly on the broker, deleted afterwards. */
async function withQueue<T>(prefix: string, fn: (queue: string) => Promise<T>): Promise<T> {
  const queue = uniqueName(prefix);
  await withConnection(BROKER_URL, async (conn) => { await (await conn.createChannel()).assertQueue(queue, { durable: false }); });
  try {
    return await fn(queue);
  } finally {
    await withConnection(BROKER_URL, async (conn) => { await (await conn.createChannel()).deleteQueue(queue); });
  }
}

/** Runs a child process to completion and returns its stdout; fails with its output otherwise. */
function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}\n${out}\n${err}`));
    });
  });
}

/** The OpenTelemetry-instrumented amqplib service of test/support/otelAmqplibClient.ts. */
function instrumentedAmqplib(role: 'publish' | 'consume', url: string, queue: string, receiver: OtlpReceiver, service: string): Promise<string> {
  return run(process.execPath, ['-r', 'tsx/cjs', 'test/support/otelAmqplibClient.ts', role], {
    OTLP_ENDPOINT: receiver.endpoint, SERVICE_NAME: service, AMQP_URL: url, QUEUE: queue,
  });
}

const proxySpan = (spans: ReceivedSpan[], kind: 'publish' | 'broker_hop' | 'process', queue: string): ReceivedSpan | undefined =>
  spans.find((s) => s.serviceName === 'amqp-trace-proxy' && s.attributes[Attr.proxySpan] === kind &&
    (kind === 'publish' ? String(s.attributes[Attr.routingKey] ?? s.name).includes(queue) : s.attributes[Attr.subscriptionName] === queue));

const traceparentOf = (span: ReceivedSpan): string => `00-${span.traceId}-${span.spanId}-01`;

async function publishPlain(url: string, queue: string, headers?: Record<string, string>): Promise<void> {
  await withConnection(url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('x'), { headers });
    await ch.waitForConfirms();
  });
}

clients('amqplib + OpenTelemetry instrumentation, consuming: its consume span continues the message\'s context, the proxy\'s publish span', async ({ proxy, receiver }) => {
  await withQueue('otel-consume', async (queue) => {
    await publishPlain(proxy.url, queue);
    const out = await instrumentedAmqplib('consume', proxy.url, queue, receiver, 'amqplib-consumer');
    const all = await receiver.waitFor((xs) => xs.some((s) => s.serviceName === 'amqplib-consumer') && proxySpan(xs, 'process', queue) !== undefined);
    const publish = proxySpan(all, 'publish', queue)!;
    const hop = proxySpan(all, 'broker_hop', queue)!;
    const consumer = all.find((s) => s.serviceName === 'amqplib-consumer')!;
    assert.ok(publish && hop, all.map((s) => `${s.serviceName}/${s.name}`).join(', '));
    assert.is(JSON.parse(out.trim()).headers[Header.traceparent], traceparentOf(publish), 'the consumer reads the proxy\'s traceparent');
    assert.is(consumer.kind, 'CONSUMER');
    assert.is(consumer.traceId, publish.traceId, 'one trace');
    assert.is(consumer.parentSpanId, publish.spanId, 'consume ← the proxy\'s publish span (the message\'s creation context)');
    assert.is(hop.parentSpanId, publish.spanId, 'the proxy\'s broker hop is its sibling');
  });
});

clients('amqplib + OpenTelemetry instrumentation with --rewrite-on-delivery: its consume span hangs under the proxy\'s broker hop', async ({ rewriting, receiver }) => {
  await withQueue('otel-rewrite', async (queue) => {
    await publishPlain(rewriting.url, queue);
    const out = await instrumentedAmqplib('consume', rewriting.url, queue, receiver, 'amqplib-consumer');
    const all = await receiver.waitFor((xs) => xs.some((s) => s.serviceName === 'amqplib-consumer') && proxySpan(xs, 'process', queue) !== undefined);
    const publish = proxySpan(all, 'publish', queue)!;
    const hop = proxySpan(all, 'broker_hop', queue)!;
    const process_ = proxySpan(all, 'process', queue)!;
    const consumer = all.find((s) => s.serviceName === 'amqplib-consumer')!;
    assert.is(JSON.parse(out.trim()).headers[Header.traceparent], traceparentOf(hop), 'the delivered traceparent names the broker hop');
    assert.is(hop.parentSpanId, publish.spanId);
    assert.is(consumer.traceId, publish.traceId);
    assert.is(consumer.parentSpanId, hop.spanId, 'consume ← broker hop');
    assert.is(process_.parentSpanId, hop.spanId, 'the proxy\'s process span is the consumer span\'s sibling');
  });
});

clients('an already-instrumented publisher: the proxy keeps its traceparent (one, unchanged) and continues its trace', async ({ proxy, receiver }) => {
  await withQueue('otel-publish', async (queue) => {
    const relay = await startRecordingRelay(BROKER_HOST, BROKER_PORT);
    try {
      await instrumentedAmqplib('publish', proxy.url, queue, receiver, 'amqplib-publisher');
      const [msg] = await withConnection(`amqp://guest:guest@127.0.0.1:${relay.port}`, async (conn) => consumeN(await conn.createChannel(), queue, 1));
      const all = await receiver.waitFor((xs) => xs.some((s) => s.serviceName === 'amqplib-publisher') && proxySpan(xs, 'publish', queue) !== undefined);
      const own = all.find((s) => s.serviceName === 'amqplib-publisher')!;
      const publish = proxySpan(all, 'publish', queue)!;
      assert.is(own.kind, 'PRODUCER');
      assert.is(headersOf(msg!)[Header.traceparent], traceparentOf(own), 'the publisher\'s own context arrives unchanged');
      assert.is(publish.traceId, own.traceId, 'the proxy continues the publisher\'s trace');
      assert.is(publish.parentSpanId, own.spanId);
      assert.is(publish.attributes[Attr.proxyContext], 'continued');
      const [header] = relay.contentHeaders();
      assert.is(header!.toString('latin1').split(Header.traceparent).length - 1, 1, 'one traceparent entry in the delivered content header');
    } finally {
      await relay.close();
    }
  });
});

clients('@cloudamqp/amqp-client: publishes with confirms and consumes through the proxy; a nack ends the process span as an error', async ({ proxy, receiver }) => {
  await withQueue('cloudamqp', async (queue) => {
    const conn = await new AMQPClient(proxy.url).connect();
    try {
      const ch = await conn.channel();
      await ch.confirmSelect();
      await ch.basicPublish('', queue, 'x', { headers: { app: 'cloudamqp' } });
      const delivered = new Promise<AMQPMessage>((resolve) => {
        void ch.basicConsume(queue, { noAck: false }, async (msg) => {
          await msg.nack(false);
          resolve(msg);
        });
      });
      const msg = await delivered;
      const all = await receiver.waitFor((xs) => proxySpan(xs, 'process', queue) !== undefined);
      const publish = proxySpan(all, 'publish', queue)!;
      const process_ = proxySpan(all, 'process', queue)!;
      assert.is(msg.properties.headers?.['app'], 'cloudamqp');
      assert.is(msg.properties.headers?.[Header.traceparent], traceparentOf(publish));
      assert.is(process_.status.code, 'ERROR');
      assert.is(process_.attributes['error.type'], 'nack');
    } finally {
      await conn.close();
    }
  });
});

const PIKA_CLIENT = `
import json, sys
import pika
url, queue, mode = sys.argv[1], sys.argv[2], sys.argv[3]
conn = pika.BlockingConnection(pika.URLParameters(url))
ch = conn.channel()
ch.confirm_delivery()
headers = {'app': 'pika'}
if mode == 'own':
    headers['traceparent'] = '${VALID}'
ch.basic_publish('', queue, b'x', pika.BasicProperties(headers=headers), mandatory=True)
for method, properties, body in ch.consume(queue, inactivity_timeout=10):
    if method is None:
        sys.exit('no message within 10 s')
    print(json.dumps({'headers': properties.headers}, default=str))
    ch.basic_ack(method.delivery_tag)
    break
ch.cancel()
conn.close()
`;

clients('pika (python3-pika): publishes and consumes through the proxy; the consumer reads traceparent; its ack ends the process span', async ({ proxy, receiver }) => {
  await withQueue('pika', async (queue) => {
    const out = await run(CELERY_PYTHON, ['-c', PIKA_CLIENT, `${proxy.url}/%2F`, queue, 'plain'], {});
    const { headers } = JSON.parse(out.trim()) as { headers: Record<string, string> };
    const all = await receiver.waitFor((xs) => proxySpan(xs, 'process', queue) !== undefined);
    const publish = proxySpan(all, 'publish', queue)!;
    const hop = proxySpan(all, 'broker_hop', queue)!;
    const process_ = proxySpan(all, 'process', queue)!;
    assert.is(headers['app'], 'pika', 'the publisher\'s own header survives');
    assert.is(headers[Header.traceparent], traceparentOf(publish));
    assert.is(publish.attributes[Attr.proxyContext], 'injected');
    assert.is(hop.parentSpanId, publish.spanId);
    assert.is(process_.parentSpanId, hop.spanId);
    assert.is(process_.status.code, 'UNSET', 'acked: not an error');
  });
});

clients('pika with its own traceparent: kept exactly, the proxy continues it', async ({ proxy, receiver }) => {
  await withQueue('pika-own', async (queue) => {
    const out = await run(CELERY_PYTHON, ['-c', PIKA_CLIENT, `${proxy.url}/%2F`, queue, 'own'], {});
    const { headers } = JSON.parse(out.trim()) as { headers: Record<string, string> };
    assert.is(headers[Header.traceparent], VALID);
    const all = await receiver.waitFor((xs) => proxySpan(xs, 'publish', queue) !== undefined);
    const publish = proxySpan(all, 'publish', queue)!;
    assert.is(publish.attributes[Attr.proxyContext], 'continued');
    assert.is(`00-${publish.traceId}-${publish.parentSpanId}-01`, VALID);
  });
});

clients('NestJS RMQ defaults (amqp-connection-manager, noAck, prefetch 0): process spans end at delivery, before the handler runs, and count as auto_ack', async ({ proxy, receiver }) => {
  const autoAcks = async (): Promise<number> => {
    const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    return Number(/^amqp_trace_proxy_process_seconds_count\{outcome="auto_ack"\} (\d+)/m.exec(text)?.[1] ?? NaN);
  };
  const before = await autoAcks();
  await withQueue('nest', async (queue) => {
    const connection = amqpManager.connect([proxy.url]);
    const received: { at: bigint; headers: Record<string, unknown> }[] = [];
    try {
      // What @nestjs/microservices' ServerRMQ does with its defaults.
      const server = connection.createChannel({
        setup: async (ch: amqp.ConfirmChannel) => {
          await ch.prefetch(0, false);
          await ch.consume(queue, (msg) => {
            if (msg) received.push({ at: BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)), headers: headersOf(msg) });
          }, { noAck: true });
        },
      });
      await server.waitForConnect();
      // And ClientRMQ's emit: a JSON packet sent to the queue.
      const client = connection.createChannel({ json: true });
      await client.sendToQueue(queue, { pattern: 'share.created', data: { id: 1 } });
      const all = await receiver.waitFor((xs) => proxySpan(xs, 'process', queue) !== undefined && received.length === 1);
      const hop = proxySpan(all, 'broker_hop', queue)!;
      const process_ = proxySpan(all, 'process', queue)!;
      assert.is(received[0]!.headers[Header.traceparent], traceparentOf(proxySpan(all, 'publish', queue)!));
      assert.is(process_.parentSpanId, hop.spanId);
      assert.is(process_.status.code, 'UNSET');
      assert.ok(process_.endTimeUnixNano <= received[0]!.at, 'the process span ended before the handler saw the message');
    } finally {
      await connection.close();
    }
  });
  assert.is(await autoAcks(), before + 1, 'process_seconds{outcome="auto_ack"}');
});

/** The rows of docs/CLIENTS.md's compatibility table: client name → version stated. */
function documentedVersions(): Map<string, string> {
  const doc = readFileSync(join(ROOT, 'docs', 'CLIENTS.md'), 'utf8');
  return new Map([...doc.matchAll(/^\| (?:\[)?`([^`]+)`[^|]*\| ([^ |]+) \|/gm)].map((m) => [m[1]!, m[2]!]));
}

clients('docs/CLIENTS.md states the versions of the Debian client packages these tests ran with', () => {
  const stated = documentedVersions();
  const python = (code: string): string => execFileSync(CELERY_PYTHON, ['-c', code], { encoding: 'utf8' }).trim();
  const installed: Record<string, string> = {
    'python3-celery': python('import celery; print(celery.__version__)'),
    'python3-kombu': python('import kombu; print(kombu.__version__)'),
    'python3-amqp': python('import amqp; print(amqp.__version__)'),
    'python3-pika': python('import pika; print(pika.__version__)'),
  };
  for (const [pkg, version] of Object.entries(installed)) {
    assert.is(stated.get(pkg), version, `docs/CLIENTS.md's row for ${pkg} (installed: ${version}); update the table`);
  }
});

clients.run();
