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

test('nothing is serialized in the turn that ended the span; a full batch then one slice per turn, one request per batch', async () => {
  const sender = new RecordingSender();
  const turns: number[] = [];
  let turn = 0;
  const serialize = (spans: ReadableSpan[]): Uint8Array => {
    turns.push(turn);
    return Buffer.from(spans.map((s) => `${s.name};`).join(''));
  };
  const deferred = new DeferredExporter(sender, serialize, { sliceSpans: 4, fullBatch: 10 });
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

test('a batch smaller than a full one: smaller slices, each after a pause; a full one back to back', () => {
  const sender = new RecordingSender();
  const sizes: number[] = [];
  const serialize = (spans: ReadableSpan[]): Uint8Array => {
    sizes.push(spans.length);
    return Buffer.from('x');
  };
  const queue: { how: 'next' | 'paced'; step: () => void }[] = [];
  const scheduler = { next: (step: () => void) => void queue.push({ how: 'next', step }), paced: (step: () => void) => void queue.push({ how: 'paced', step }) };
  const deferred = new DeferredExporter(sender, serialize, { sliceSpans: 8, pacedSliceSpans: 3, fullBatch: 20, scheduler });
  const run = (): string[] => {
    const hows: string[] = [];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      hows.push(item.how);
      item.step();
    }
    return hows;
  };
  deferred.export(fakeSpans(7), () => undefined);
  assert.equal(sizes, [], 'nothing in the turn that ended the span');
  assert.equal(run(), ['next', 'paced', 'paced'], 'the first slice after I/O, the rest after a pause');
  assert.equal(sizes, [3, 3, 1]);
  sizes.length = 0;
  deferred.export(fakeSpans(20), () => undefined);
  assert.equal(run(), ['next', 'next', 'next'], 'a full batch: a slice per turn');
  assert.equal(sizes, [8, 8, 4]);
  assert.equal(sender.sent.map((b) => b.spans.length), [7, 20], 'one request per batch');
});

test('a serializer that throws fails that batch, and the exporter goes on', async () => {
  const sender = new RecordingSender();
  let calls = 0;
  const deferred = new DeferredExporter(sender, () => {
    if (calls++ === 0) throw new Error('bad span');
    return Buffer.from('ok');
  }, { sliceSpans: 4, fullBatch: 2 });
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
  // A batch below the full size: ten paced slices of 16, each after a timer.
  const deferred = new DeferredExporter(sender, serializeRequest, { fullBatch: 512 });
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
    const deferred = new DeferredExporter(sender, serializeRequest, { sliceSpans: 64, fullBatch: 150 });
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
