import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { DeferredExporter } from '../../../src/trace/deferredExporter';

class RecordingExporter implements SpanExporter {
  readonly batches: number[] = [];
  flushed = 0;
  shut = 0;

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.batches.push(spans.length);
    done({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {
    this.shut++;
  }

  async forceFlush(): Promise<void> {
    this.flushed++;
  }
}

const spans = (n: number): ReadableSpan[] => Array.from({ length: n }, () => ({}) as ReadableSpan);

test('a batch reaches the exporter only after the current turn of the event loop', async () => {
  const inner = new RecordingExporter();
  const deferred = new DeferredExporter(inner);
  const results: ExportResult[] = [];
  deferred.export(spans(3), (r) => results.push(r));
  deferred.export(spans(2), (r) => results.push(r));
  // What span.end() ran into: nothing serialized or sent yet.
  assert.equal(inner.batches, []);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(inner.batches, [3, 2], 'in order, whole');
  assert.equal(results.map((r) => r.code), [ExportResultCode.SUCCESS, ExportResultCode.SUCCESS]);
});

test('shutdown and forceFlush go straight through', async () => {
  const inner = new RecordingExporter();
  const deferred = new DeferredExporter(inner);
  await deferred.forceFlush();
  await deferred.shutdown();
  assert.is(inner.flushed, 1);
  assert.is(inner.shut, 1);
});

test.run();
