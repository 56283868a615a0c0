/**
 * The OTLP exporter settings the OpenTelemetry SDK reads from the environment itself
 * (authentication headers, TLS to the collector, compression), checked as a user would set
 * them: on a `node dist/main.js` process, against the project's OTLP receiver.
 * docs/OPERATIONS.md ("Exporting spans") states what these tests show.
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { requireBroker } from '../support/broker';
import { startForwarder } from '../support/forwarder';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlpReceiver';
import { freePort, startChildProxy, testCerts, waitFor, type ChildProxy, type TestCerts } from './hardening/helpers';

const exporter = suite<{ certs: TestCerts }>('exporter settings from the environment', { certs: undefined as unknown as TestCerts });

exporter.before(async (ctx) => {
  await requireBroker();
  ctx.certs = testCerts();
  ctx.certs.ca('collector-ca');
  ctx.certs.issue('collector', 'collector-ca', 'IP:127.0.0.1,DNS:localhost');
  ctx.certs.issue('proxy-client', 'collector-ca', 'DNS:amqp-trace-proxy', true);
});
exporter.after((ctx) => ctx.certs.remove());

/** A proxy that samples everything and exports every 100 ms to `endpoint`, plus `env`. */
function startExportingProxy(endpoint: string, env: Record<string, string> = {}): Promise<ChildProxy> {
  return startChildProxy(0, {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    ...env,
  });
}

/** Publishes `count` confirmed messages through the proxy to a queue of their own. */
async function publishThrough(proxy: ChildProxy, count = 1, body = Buffer.from('x')): Promise<void> {
  const conn = await amqp.connect(proxy.url);
  try {
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, body, { messageId: `m-${i}` });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

async function withProxy<T>(proxy: ChildProxy, fn: (proxy: ChildProxy) => Promise<T>): Promise<T> {
  try {
    return await fn(proxy);
  } finally {
    proxy.process.kill('SIGKILL');
    await proxy.exited;
  }
}

const publishSpan = (receiver: OtlpReceiver): boolean => receiver.spans().some((s) => s.name.startsWith('publish '));

exporter('OTEL_EXPORTER_OTLP_HEADERS reaches the collector as gRPC metadata (URL-decoded); the _TRACES_ variant wins per key; values are not logged', async () => {
  const receiver = await startOtlpReceiver();
  try {
    await withProxy(await startExportingProxy(receiver.endpoint, {
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret-token,x-scope-orgid=tenant-a',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-scope-orgid=tenant-b',
    }), async (proxy) => {
      await publishThrough(proxy);
      await receiver.waitFor(() => publishSpan(receiver));
      const metadata = receiver.metadata()[0]!;
      assert.is(metadata['authorization'], 'Bearer s3cret-token');
      assert.is(metadata['x-scope-orgid'], 'tenant-b');
      assert.not.ok(proxy.output().includes('s3cret'), 'the header value appears in the proxy log');
    });
  } finally {
    await receiver.close();
  }
});

exporter('TLS to the collector: an https:// endpoint verified against OTEL_EXPORTER_OTLP_CERTIFICATE', async ({ certs }) => {
  const receiver = await startOtlpReceiver({
    tls: { cert: readFileSync(certs.file('collector', 'crt')), key: readFileSync(certs.file('collector', 'key')) },
  });
  try {
    assert.match(receiver.endpoint, /^https:\/\//);
    await withProxy(await startExportingProxy(receiver.endpoint, {
      OTEL_EXPORTER_OTLP_CERTIFICATE: certs.file('collector-ca', 'crt'),
    }), async (proxy) => {
      await publishThrough(proxy);
      await receiver.waitFor(() => publishSpan(receiver));
    });
  } finally {
    await receiver.close();
  }
});

exporter('TLS to the collector without its CA: nothing is exported, the failure is logged and traffic flows', async () => {
  const certs = testCerts();
  certs.ca('other-ca');
  certs.issue('collector', 'other-ca', 'IP:127.0.0.1');
  const receiver = await startOtlpReceiver({
    tls: { cert: readFileSync(certs.file('collector', 'crt')), key: readFileSync(certs.file('collector', 'key')) },
  });
  try {
    await withProxy(await startExportingProxy(receiver.endpoint), async (proxy) => {
      await publishThrough(proxy);
      await waitFor('an export failure in the log', () => /span export .*failed/.test(proxy.output()), 15_000);
      assert.is(receiver.spans().length, 0);
    });
  } finally {
    await receiver.close();
    certs.remove();
  }
});

exporter("OpenTelemetry's own diagnostics reach the proxy's log as warnings, without the exporter's header values", async () => {
  // Nothing listens there: the batch processor reports each failed export through diag.
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  await withProxy(await startExportingProxy(endpoint, {
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret-token',
    OTEL_BSP_EXPORT_TIMEOUT: '1000',
  }), async (proxy) => {
    await publishThrough(proxy);
    await waitFor('an OpenTelemetry diagnostic in the log', () => proxy.output().includes('"source":"opentelemetry"'), 15_000);
    const line = proxy.output().split('\n').find((l) => l.includes('"source":"opentelemetry"'))!;
    assert.match(line, '"level":40');
    assert.not.ok(proxy.output().includes('s3cret'), 'the header value appears in the proxy log');
  });
});

exporter('mutual TLS: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY are presented to a collector that requires them', async ({ certs }) => {
  const receiver = await startOtlpReceiver({
    tls: {
      cert: readFileSync(certs.file('collector', 'crt')),
      key: readFileSync(certs.file('collector', 'key')),
      clientCa: readFileSync(certs.file('collector-ca', 'crt')),
    },
  });
  try {
    await withProxy(await startExportingProxy(receiver.endpoint, {
      OTEL_EXPORTER_OTLP_CERTIFICATE: certs.file('collector-ca', 'crt'),
      OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: certs.file('proxy-client', 'crt'),
      OTEL_EXPORTER_OTLP_CLIENT_KEY: certs.file('proxy-client', 'key'),
    }), async (proxy) => {
      await publishThrough(proxy);
      await receiver.waitFor(() => publishSpan(receiver));
    });
    // The same collector refuses a proxy without a client certificate.
    await withProxy(await startExportingProxy(receiver.endpoint, {
      OTEL_EXPORTER_OTLP_CERTIFICATE: certs.file('collector-ca', 'crt'),
    }), async (proxy) => {
      receiver.clear();
      await publishThrough(proxy);
      await waitFor('an export failure in the log', () => /span export .*failed/.test(proxy.output()), 15_000);
      assert.is(receiver.spans().length, 0);
    });
  } finally {
    await receiver.close();
  }
});

exporter('OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses export requests on the wire', async () => {
  const receiver = await startOtlpReceiver();
  let bytes = 0;
  const relay = await startForwarder('127.0.0.1', receiver.port, { tapToTarget: () => (chunk) => { bytes += chunk.length; } });
  try {
    const sent: Record<string, number> = {};
    for (const compression of ['none', 'gzip']) {
      bytes = 0;
      receiver.clear();
      await withProxy(await startExportingProxy(`http://127.0.0.1:${relay.port}`, { OTEL_EXPORTER_OTLP_COMPRESSION: compression }), async (proxy) => {
        await publishThrough(proxy, 50);
        await receiver.waitFor((spans) => spans.filter((s) => s.name.startsWith('publish ')).length === 50, 10_000);
      });
      sent[compression] = bytes;
    }
    // 50 spans whose attributes repeat: gzip takes the requests to a fraction of their size.
    assert.ok(sent.gzip! * 2 < sent.none!, `bytes sent to the collector: ${JSON.stringify(sent)}`);
  } finally {
    await relay.close();
    await receiver.close();
  }
});

exporter.run();
