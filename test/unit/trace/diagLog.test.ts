import { Writable } from 'node:stream';
import { diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exporterSecrets } from '../../../src/config/exporterEnv';
import { routeOtelDiagnostics, scrub } from '../../../src/trace/diagLog';
import { sleep } from '../../support/wait';

/** A pino logger whose lines are kept, parsed. */
function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

test('warn and error reach the log as warnings, scrubbed; info and debug do not; one line per message per interval', async () => {
  const { logger, lines } = capture();
  const detach = routeOtelDiagnostics(logger, ['s3cr3t-token', 'Bearer s3cr3t-token'], 60_000);
  try {
    diag.warn('Header "authorization" has invalid value (Bearer s3cr3t-token) and will be ignored');
    diag.error('export to http://user:hunter2@collector:4317 failed', new Error('14 UNAVAILABLE'));
    diag.info('informational');
    diag.debug('debugging');
    diag.error('export to http://user:hunter2@collector:4317 failed', new Error('14 UNAVAILABLE'));
    await flush();
    assert.is(lines.length, 2, JSON.stringify(lines));
    for (const line of lines) {
      assert.is(line['level'], 40);
      assert.is(line['source'], 'opentelemetry');
      const text = JSON.stringify(line);
      assert.not.ok(text.includes('s3cr3t'), text);
      assert.not.ok(text.includes('hunter2'), text);
    }
    assert.match(String(lines[0]!['diag']), 'invalid value (***)');
    assert.match(String(lines[1]!['diag']), '14 UNAVAILABLE');
  } finally {
    detach();
  }
  diag.warn('after detach');
  await flush();
  assert.is(lines.length, 2);
});

test("the SDK's own warnings are routed: the gRPC exporter ignoring a URL path, the batch processor failing an export", async () => {
  const { logger, lines } = capture();
  const detach = routeOtelDiagnostics(logger, []);
  try {
    await new OTLPTraceExporter({ url: 'http://127.0.0.1:4317/a/path' }).shutdown();
    const failing: SpanExporter = {
      export: (_spans, done) => done({ code: ExportResultCode.FAILED, error: new Error('collector said no') }),
      shutdown: () => Promise.resolve(),
    };
    const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(failing, { scheduledDelayMillis: 10 })] });
    provider.getTracer('t').startSpan('s').end();
    await sleep(100);
    await provider.shutdown().catch(() => undefined);
    await flush();
    const texts = lines.map((l) => String(l['diag']));
    assert.ok(texts.some((t) => t.includes('URL path should not be set')), texts.join('\n'));
    assert.ok(texts.some((t) => t.includes('collector said no')), texts.join('\n'));
  } finally {
    detach();
  }
});

test('scrub: URL credentials and secrets go, long text is cut', () => {
  assert.is(scrub('amqp://u:p@h and key=abc', ['abc']), 'amqp://u:***@h and key=***');
  assert.ok(scrub('x'.repeat(2000), []).length <= 503);
});

test('exporterSecrets: header values as written and percent-decoded, from both variables; malformed entries whole', () => {
  const secrets = exporterSecrets({
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=t1',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'api-key=k2,justtext',
  });
  for (const s of ['Bearer%20abc', 'Bearer abc', 't1', 'k2', 'justtext']) assert.ok(secrets.includes(s), s);
  assert.not.ok(secrets.includes('authorization'));
  assert.equal(exporterSecrets({}), []);
});

test.run();
