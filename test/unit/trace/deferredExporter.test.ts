import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { DeferredExporter, type SerializedBatch, type SerializedBatchSender } from '../../../src/trace/deferredExporter';
import { createOtlpGrpcSender, serializeRequest, syntheticSpans } from '../../../src/trace/otlpExport';
import { decodeExportTraceServiceRequest, startOtlpReceiver } from '../../support/otlpReceiver';

class RecordingSender implements SerializedBatchSender {
  readonly sent: SerializedBatch[] = [];
  flushed = 0;
  shut = 0;

  send(batch: SerializedBatch, done: (result: ExportResult) => void): void {
    this.sent.push(batch);
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {
    this.shut++;
  }

  async forceFlush(): Promise<void> {
    this.flushed++;
  }
}

const fakeSpans = (n: number): ReadableSpan[] => Array.from({ length: n }, (_, i) => ({ name: `s${i}` }) as ReadableSpan);

/** Spans as the proxy ends them. */
function proxySpans(n: number): ReadableSpan[] {
  return syntheticSpans(resourceFromAttributes({ 'service.name': 'deferred-exporter-test' }), { name: 'test' }, n);
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('nothing is serialized in the turn that ended the span; then one slice per turn, one request per batch', async () => {
  const sender = new RecordingSender();
  const turns: number[] = [];
  let turn = 0;
  const serialize = (spans: ReadableSpan[]): Uint8Array => {
    turns.push(turn);
    return Buffer.from(spans.map((s) => `${s.name};`).join(''));
  };
  const deferred = new DeferredExporter(sender, serialize, 4);
  const results: ExportResult[] = [];
  deferred.export(fakeSpans(10), (r) => results.push(r));
  assert.equal(turns, [], 'what span.end() ran into: nothing serialized');
  for (let i = 0; i < 5; i++) {
    turn++;
    await nextTurn();
  }
  assert.is(turns.length, 3, '10 spans in slices of 4');
  assert.is(new Set(turns).size, 3, 'each slice in a turn of its own');
  assert.is(sender.sent.length, 1, 'one request');
  assert.is(sender.sent[0]!.spans.length, 10);
  assert.is(Buffer.from(sender.sent[0]!.bytes).toString(), Array.from({ length: 10 }, (_, i) => `s${i};`).join(''), 'slices in order');
  assert.equal(results.map((r) => r.code), [ExportResultCode.SUCCESS]);
});

test('a serializer that throws fails that batch, and the exporter goes on', async () => {
  const sender = new RecordingSender();
  let calls = 0;
  const deferred = new DeferredExporter(sender, () => {
    if (calls++ === 0) throw new Error('bad span');
    return Buffer.from('ok');
  }, 4);
  const results: ExportResult[] = [];
  deferred.export(fakeSpans(2), (r) => results.push(r));
  deferred.export(fakeSpans(2), (r) => results.push(r));
  await nextTurn();
  await nextTurn();
  assert.equal(results.map((r) => r.code), [ExportResultCode.FAILED, ExportResultCode.SUCCESS]);
  assert.is(sender.sent.length, 1);
});

test('shutdown and forceFlush go straight to the sender', async () => {
  const sender = new RecordingSender();
  const deferred = new DeferredExporter(sender, serializeRequest);
  await deferred.forceFlush();
  await deferred.shutdown();
  assert.is(sender.flushed, 1);
  assert.is(sender.shut, 1);
});

test('slices serialized by the SDK and laid end to end are one request a collector decodes whole', async () => {
  const spans = proxySpans(150);
  const sender = new RecordingSender();
  const deferred = new DeferredExporter(sender, serializeRequest, 64);
  await new Promise<void>((resolve) => deferred.export(spans, () => resolve()));
  const decoded = decodeExportTraceServiceRequest(Buffer.from(sender.sent[0]!.bytes));
  assert.is(decoded.length, 150);
  assert.equal(decoded.map((s) => s.name), spans.map((s) => s.name), 'every span, in order');
  assert.equal(decoded.map((s) => s.spanId), spans.map((s) => s.spanContext().spanId));
  assert.ok(decoded.every((s) => s.serviceName === 'deferred-exporter-test'), 'each slice carries the resource');
});

test('through the OTLP gRPC transport: a batch of 150 in slices of 64 arrives as one Export call', async () => {
  const receiver = await startOtlpReceiver();
  const sender = createOtlpGrpcSender(receiver.endpoint, 5000);
  try {
    const deferred = new DeferredExporter(sender, serializeRequest, 64);
    const result = await new Promise<ExportResult>((resolve) => deferred.export(proxySpans(150), resolve));
    assert.is(result.code, ExportResultCode.SUCCESS, result.error?.message);
    assert.is(receiver.requests, 1);
    assert.is(receiver.spans().length, 150);
  } finally {
    await sender.shutdown();
    await receiver.close();
  }
});

test.run();
