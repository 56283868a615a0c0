/**
 * basic.return through the proxy (issue 13, section 5): a mandatory publish that no queue
 * takes comes back to its publisher exactly as it was sent, as it does without the proxy,
 * compared byte for byte on the wire (a recording relay between the client and whatever it
 * talks to keeps the content-header frames it received).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { AMQPClient, AMQPMessage } from '@cloudamqp/amqp-client';
import { Header } from '../../src/trace/attributes';
import { everyFieldTypeInput } from '../support/amqpVectors';
import { BROKER_HOST, BROKER_PORT, requireBroker, uniqueName } from '../support/broker';
import { TestProxy, startTestProxy } from '../support/proxy';
import { startRecordingRelay } from '../support/recordingRelay';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const INVALID = '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01';

type Publish = (ch: amqp.Channel, nowhere: string, queue: string) => void;

interface Outcome {
  /** Content-header payloads the client received (returns only: nothing is consumed). */
  readonly headers: Buffer[];
  /** What amqplib decoded from each return. */
  readonly returned: amqp.Message[];
}

/**
 * Publishes through a recording relay in front of `port` (the broker, or a proxy in front of
 * it) and waits for `returns` basic.returns. Routable publishes go to a queue that is purged.
 */
async function publishAndRecord(
  host: string, port: number, confirm: boolean, returns: number, publish: Publish,
): Promise<Outcome> {
  const relay = await startRecordingRelay(host, port);
  const returned: amqp.Message[] = [];
  try {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${relay.port}`);
    try {
      const ch = confirm ? await conn.createConfirmChannel() : await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('returns-routed'), { exclusive: true })).queue;
      const all = new Promise<void>((resolve) => ch.on('return', (msg: amqp.Message) => {
        returned.push(msg);
        if (returned.length === returns) resolve();
      }));
      publish(ch, 'atp-test-returns-nowhere', queue);
      if (confirm) await (ch as amqp.ConfirmChannel).waitForConfirms();
      await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`${returned.length} of ${returns} returns`)), 10_000))]);
      // A synchronous round trip: everything the broker sent before it has reached the client.
      await ch.checkQueue(queue);
    } finally {
      await conn.close();
    }
    return { headers: relay.contentHeaders(), returned };
  } finally {
    await relay.close();
  }
}

const returns = suite<{ proxy: TestProxy; unstamped: TestProxy }>('basic.return: the publisher gets back what it sent', {
  proxy: undefined as unknown as TestProxy,
  unstamped: undefined as unknown as TestProxy,
});
returns.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy({ OTEL_TRACES_SAMPLER: 'always_on' });
  ctx.unstamped = await startTestProxy({}, ['--publish-stamp', 'false']);
});
returns.after(async (ctx) => {
  await ctx.proxy.stop();
  await ctx.unstamped.stop();
});

const cases: { name: string; confirm: boolean; returns: number; publish: Publish }[] = [
  {
    name: 'amqplib\'s empty headers table, confirm channel',
    confirm: true,
    returns: 1,
    publish: (ch, nowhere) => ch.publish('', nowhere, Buffer.from('lost'), { mandatory: true, contentType: 'text/plain', messageId: 'm-1' }),
  },
  {
    name: 'headers of every field type, no confirms',
    confirm: false,
    returns: 1,
    publish: (ch, nowhere) => ch.publish('', nowhere, Buffer.from('lost'), {
      mandatory: true, headers: everyFieldTypeInput(), deliveryMode: 2, correlationId: 'c-1', timestamp: 1_700_000_000,
    }),
  },
  {
    name: 'a valid traceparent and tracestate (continued: the proxy added its stamp)',
    confirm: true,
    returns: 1,
    publish: (ch, nowhere) => ch.publish('', nowhere, Buffer.from('lost'), { mandatory: true, headers: { traceparent: VALID, tracestate: 'v=1', k: 'v' } }),
  },
  {
    name: 'an invalid traceparent, its tracestate and a stale stamp (removed and replaced on the way in)',
    confirm: false,
    returns: 1,
    publish: (ch, nowhere) => ch.publish('', nowhere, Buffer.from('lost'), {
      mandatory: true, headers: { a: 1, traceparent: INVALID, tracestate: 'v=1', [Header.publishedAt]: '1700000000000000', z: 'last' },
    }),
  },
  {
    name: 'routable and unroutable publishes interleaved, 20 returns among 60, confirm channel',
    confirm: true,
    returns: 20,
    publish: (ch, nowhere, queue) => {
      for (let i = 0; i < 60; i++) {
        const unroutable = i % 3 === 1;
        ch.publish('', unroutable ? nowhere : queue, Buffer.from(`m${i}`), { mandatory: true, messageId: `m${i}`, headers: { i } });
      }
    },
  },
  {
    name: 'the same without confirms',
    confirm: false,
    returns: 20,
    publish: (ch, nowhere, queue) => {
      for (let i = 0; i < 60; i++) {
        const unroutable = i % 3 === 1;
        ch.publish('', unroutable ? nowhere : queue, Buffer.from(`m${i}`), { mandatory: true, messageId: `m${i}`, headers: { i } });
      }
    },
  },
];

for (const c of cases) {
  returns(`${c.name}: byte-identical to the return the broker sends directly`, async ({ proxy, unstamped }) => {
    const direct = await publishAndRecord(BROKER_HOST, BROKER_PORT, c.confirm, c.returns, c.publish);
    assert.is(direct.headers.length, c.returns, 'the direct run saw only the returns');
    for (const [name, through] of [['tracing proxy', proxy], ['proxy with --publish-stamp false', unstamped]] as const) {
      const proxied = await publishAndRecord('127.0.0.1', through.port, c.confirm, c.returns, c.publish);
      assert.is(proxied.headers.length, c.returns, name);
      for (let i = 0; i < c.returns; i++) {
        assert.ok(proxied.headers[i]!.equals(direct.headers[i]!),
          `${name}, return ${i}: content header differs\n  direct:  ${direct.headers[i]!.toString('hex')}\n  proxied: ${proxied.headers[i]!.toString('hex')}`);
        assert.equal(proxied.returned[i]!.properties, direct.returned[i]!.properties);
        assert.equal(proxied.returned[i]!.fields, direct.returned[i]!.fields);
        assert.ok(proxied.returned[i]!.content.equals(direct.returned[i]!.content));
      }
    }
  });
}

/** @cloudamqp/amqp-client sends no headers property at all when a message has none. */
async function returnedWithoutHeaders(host: string, port: number): Promise<{ header: Buffer; message: AMQPMessage }> {
  const relay = await startRecordingRelay(host, port);
  try {
    const conn = await new AMQPClient(`amqp://guest:guest@127.0.0.1:${relay.port}`).connect();
    try {
      const ch = await conn.channel();
      await ch.confirmSelect();
      const returned = new Promise<AMQPMessage>((resolve) => { ch.onReturn = resolve; });
      await ch.basicPublish('', 'atp-test-returns-nowhere', 'lost', { contentType: 'text/plain', priority: 3 }, true);
      const message = await returned;
      await ch.queueDeclare('', { exclusive: true });
      const headers = relay.contentHeaders();
      assert.is(headers.length, 1);
      return { header: headers[0]!, message };
    } finally {
      await conn.close();
    }
  } finally {
    await relay.close();
  }
}

returns('no headers property at all (the proxy inserted a table): given back without one, byte for byte', async ({ proxy }) => {
  const direct = await returnedWithoutHeaders(BROKER_HOST, BROKER_PORT);
  const proxied = await returnedWithoutHeaders('127.0.0.1', proxy.port);
  assert.ok(proxied.header.equals(direct.header), `direct ${direct.header.toString('hex')}\nproxied ${proxied.header.toString('hex')}`);
  assert.is(proxied.message.properties.headers, undefined);
  assert.is(proxied.message.bodyToString(), 'lost');
});

returns('the message that was routed still carries the trace context (only returns are restored)', async ({ proxy }) => {
  const conn = await amqp.connect(proxy.url);
  try {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('returns-kept'), { exclusive: true })).queue;
    const returned = new Promise<amqp.Message>((resolve) => ch.once('return', resolve));
    ch.publish('', uniqueName('nowhere'), Buffer.from('back'), { mandatory: true });
    ch.publish('', queue, Buffer.from('kept'), { mandatory: true });
    await ch.waitForConfirms();
    assert.equal((await returned).properties.headers, {}, 'the return is as sent: amqplib\'s empty table');
    const kept = await ch.get(queue, { noAck: true });
    assert.ok(kept);
    assert.type((kept as amqp.GetMessage).properties.headers?.[Header.traceparent], 'string');
    assert.type((kept as amqp.GetMessage).properties.headers?.[Header.publishedAt], 'string');
    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(metrics, /^amqp_trace_proxy_inflight_spans\{map="return"\} 0$/m, 'every copy released once confirmed');
  } finally {
    await conn.close();
  }
});

returns.run();
