import { ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { SerializedBatch, SerializedBatchSender } from '../../../src/trace/deferredExporter';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RetryingSender } from '../../../src/trace/exportRetry';
import { sleep } from '../../support/wait';

const grpcError = (code: number): Error => Object.assign(new Error(`${code} status`), { code });

/** A sender that answers from a script, one result per call (the last one repeats), and keeps what it was sent. */
function scripted(results: ExportResult[]): SerializedBatchSender & { calls: number; sent: SerializedBatch[] } {
  const exporter = {
    calls: 0,
    sent: [] as SerializedBatch[],
    send(batch: SerializedBatch, done: (r: ExportResult) => void) {
      exporter.sent.push(batch);
      const result = results[Math.min(exporter.calls, results.length - 1)]!;
      exporter.calls++;
      setImmediate(() => done(result));
    },
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  return exporter;
}

/** Timers that fire on the next turn, with the delays asked for recorded. */
function immediateTimers(): { delays: number[]; setTimer: (run: () => void, ms: number) => { unref(): void } } {
  const delays: number[] = [];
  return {
    delays,
    setTimer: (run, ms) => {
      delays.push(ms);
      setImmediate(run);
      return { unref: () => undefined };
    },
  };
}

/** The retry timers are unref'd (they must not keep a stopping proxy alive); the test is held open meanwhile. */
const BATCH: SerializedBatch = { spans: [], bytes: Buffer.from('request') };

function exportOnce(sender: RetryingSender): Promise<ExportResult> {
  const hold = setInterval(() => undefined, 1000);
  return new Promise<ExportResult>((resolve) => sender.send(BATCH, resolve)).finally(() => clearInterval(hold));
}

const unavailable: ExportResult = { code: ExportResultCode.FAILED, error: grpcError(14) };
const ok: ExportResult = { code: ExportResultCode.SUCCESS };

test('UNAVAILABLE twice, then accepted: one success, two retries with growing backoff', async () => {
  const inner = scripted([unavailable, unavailable, ok]);
  const timers = immediateTimers();
  let retries = 0;
  const result = await exportOnce(new RetryingSender(inner, { windowMs: 60_000, onRetry: () => retries++, setTimer: timers.setTimer }));
  assert.is(result.code, ExportResultCode.SUCCESS);
  assert.is(inner.calls, 3);
  assert.ok(inner.sent.every((b) => b === BATCH), 'the same serialized request each time');
  assert.is(retries, 2);
  assert.ok(timers.delays[0]! >= 200 && timers.delays[0]! <= 300, String(timers.delays));
  assert.ok(timers.delays[1]! >= 400 && timers.delays[1]! <= 600, String(timers.delays));
});

test('errors that are not retryable are final at once: INVALID_ARGUMENT, UNAUTHENTICATED, no code', async () => {
  for (const error of [grpcError(3), grpcError(16), new Error('Concurrent export limit reached')]) {
    const inner = scripted([{ code: ExportResultCode.FAILED, error }, ok]);
    const result = await exportOnce(new RetryingSender(inner, { windowMs: 60_000, onRetry: () => undefined, setTimer: immediateTimers().setTimer }));
    assert.is(result.code, ExportResultCode.FAILED, error.message);
    assert.is(inner.calls, 1, error.message);
  }
});

test('the window bounds the retries: a collector that stays away fails the batch', async () => {
  const inner = scripted([unavailable]);
  // Real time: the first retry (250 ms +-20 %) fits in 550 ms, the second (at least 200 + 400) does not.
  const started = Date.now();
  const result = await exportOnce(new RetryingSender(inner, { windowMs: 550, onRetry: () => undefined }));
  assert.is(result.code, ExportResultCode.FAILED);
  assert.is(inner.calls, 2);
  assert.ok(Date.now() - started < 2000, 'given up, not waited out');
});

test('stopRetrying (shutdown) settles a batch waiting for its retry at once, with the last failure', async () => {
  const inner = scripted([unavailable]);
  const exporter = new RetryingSender(inner, { windowMs: 60_000, onRetry: () => undefined });
  const settled = exportOnce(exporter);
  await sleep(20);
  const started = Date.now();
  exporter.stopRetrying();
  const result = await settled;
  assert.is(result.code, ExportResultCode.FAILED);
  assert.ok(Date.now() - started < 100);
  assert.is(inner.calls, 1);
});

test.run();
