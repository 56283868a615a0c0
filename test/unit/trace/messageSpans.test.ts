import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import { createMetrics } from '../../../src/metrics/metrics';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { epochOf } from '../../../src/trace/clock';
import { MessageSpans, type MessageContext } from '../../../src/trace/messageSpans';
import { randomSpanId, randomTraceId } from '../../../src/trace/traceparent';
import { FakeClock } from '../../support/fakeClock';
import { memorySink } from '../../support/memorySink';

/**
 * The proxy's own decision (records, once per message) is the only gate: the spans asked
 * for afterwards all record, as sampled.
 */
function harness(decision: boolean, clock?: FakeClock): { spans: MessageSpans; exporter: InMemorySpanExporter; decisions: number[] } {
  const sink = memorySink();
  const exporter = sink.exporter;
  const decisions: number[] = [];
  const telemetry = {
    sink,
    sampled: (flags: number | undefined) => {
      decisions.push(flags ?? -1);
      return decision;
    },
  };
  const spans = new MessageSpans(telemetry, createMetrics({ destinationLabels: false, maxDestinationLabels: 0 }), { host: 'rabbit', port: 5672 }, clock);
  return { spans, exporter, decisions };
}

const parent = (flags: number): MessageContext => ({ traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: flags });

function everySpan(spans: MessageSpans, from: MessageContext): void {
  spans.publish('publish q', {}, from)?.end();
  spans.brokerHop('broker_hop q', {}, from, Date.now() - 5);
  spans.receive('get q', {}, from, Date.now() - 1, from);
  spans.process('process q', {}, from, from)?.end();
}

test('records() is the configured decision on the parent\'s flags and trace id; spans are made only when asked', () => {
  const { spans, exporter, decisions } = harness(false);
  const from = parent(0);
  assert.is(spans.records(from, from.traceId), false);
  assert.is(spans.records(undefined, randomTraceId()), false);
  assert.equal(decisions, [0, -1], 'asked once per call, with the parent\'s flags (-1: a new trace)');
  assert.is(exporter.getFinishedSpans().length, 0);
  assert.is(harness(true).spans.records(from, from.traceId), true);
});

test('a message the decision samples records every span in its parent trace', () => {
  const { spans, exporter } = harness(true);
  const from = parent(1);
  everySpan(spans, from);
  const finished = exporter.getFinishedSpans();
  assert.equal(finished.map((s) => s.name), ['publish q', 'broker_hop q', 'get q', 'process q']);
  for (const s of finished) {
    assert.is(s.spanContext().traceId, from.traceId);
    assert.is(s.parentSpanContext?.spanId, from.spanId);
    assert.is(s.attributes['messaging.system'], 'rabbitmq');
  }
});

test('receive, process and a CLIENT publish link to the creation context; a PRODUCER publish and the hop do not', () => {
  const { spans, exporter } = harness(true);
  const from = parent(1);
  everySpan(spans, from);
  spans.publish('publish continued', {}, from, undefined, false)?.end();
  const links = new Map(exporter.getFinishedSpans().map((s) => [s.name, s.links.map((l) => l.context.spanId)]));
  assert.equal(Object.fromEntries(links), {
    'publish q': [], 'broker_hop q': [], 'get q': [from.spanId], 'process q': [from.spanId], 'publish continued': [from.spanId],
  });
});


test('a span not given its times starts, ends and timestamps its events on the tracer\'s clock, not the wall clock', () => {
  const clock = new FakeClock();
  const { spans, exporter } = harness(true, clock);
  const span = spans.process('process q', {}, parent(1))!;
  clock.advance(250);
  span.event('retry', {});
  clock.advance(750);
  span.end();
  const [finished] = exporter.getFinishedSpans();
  const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 0.01, `${what}: ${actual} vs ${expected}`);
  near(hrTimeToMilliseconds(finished.startTime), epochOf(1_000_000), 'start');
  near(hrTimeToMilliseconds(finished.events[0].time), epochOf(1_000_250), 'event');
  near(hrTimeToMilliseconds(finished.duration), 1000, 'duration');
});

test.run();
