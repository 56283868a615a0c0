/**
 * The tracing core driven by lifecycle events alone (no frames, no broker, no sleeping):
 * publish → confirm / nack / return, deliver → ack / nack / reject, close, and every outcome
 * rule at its boundary, time moved by a FakeClock. Messages are test/support/fakeMessage.ts
 * views, as a second protocol adapter would hand them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { createLogger } from '../../../src/log/logger';
import { createMetrics } from '../../../src/metrics/metrics';
import { Attr, Header } from '../../../src/trace/attributes';
import { NO_HISTORY } from '../../../src/trace/deliveryHistory';
import type { Delivery } from '../../../src/trace/lifecycle';
import { MessageTracer, ProcessTracing } from '../../../src/trace/messageTracer';
import { OutcomeRules } from '../../../src/trace/outcome';
import { OUTCOME_RULES, type OutcomeRule } from '../../../src/trace/outcomeNames';
import { FakeClock } from '../../support/fakeClock';
import { FakeMessage, FakeMessageFields, fakeMessage } from '../../support/fakeMessage';
import { memorySink } from '../../support/memorySink';

const SAMPLED_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const UNSAMPLED_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
const ROUTING = { exchange: '', routingKey: 'jobs' };
const THRESHOLD_MS = 1000;

interface Setup {
  readonly tracer: MessageTracer;
  readonly clock: FakeClock;
  spans(): ReadableSpan[];
  /** `{proxy span} {error.type or ok} {kept rule or -}` of each span, sorted. */
  summary(): string[];
}

/** One connection's core; `sampled: false` = sampler at 0 with outcome keeping on (every rule, thresholds 1 s). */
function setup(options: { sampled?: boolean; keeping?: boolean; rulesOff?: readonly OutcomeRule[] } = {}): Setup {
  const sampled = options.sampled ?? true;
  const sink = memorySink();
  const clock = new FakeClock();
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const rules = new OutcomeRules({
    rules: new Set(OUTCOME_RULES.filter((r) => !options.rulesOff?.includes(r))), confirmOverMs: THRESHOLD_MS, brokerHopOverMs: THRESHOLD_MS, processOverMs: THRESHOLD_MS, perSecond: 1000,
  }, metrics, () => clock.now());
  const process = new ProcessTracing({
    telemetry: { sink, sampled: () => sampled, sampledNewTrace: () => sampled, parentDecides: true },
    clock,
    metrics,
    logger: createLogger('error'),
    mode: { tracing: true },
    continuation: undefined,
    rewriteOnDelivery: false,
    inflightCapacity: 100,
    publishStamp: true,
    ...(options.keeping ?? !sampled ? { outcome: { rules, sink } } : {}),
  });
  const spans = (): ReadableSpan[] => sink.exporter.getFinishedSpans();
  return {
    tracer: process.connection({ host: 'broker', port: 5672 }),
    clock,
    spans,
    summary: () => spans().map((s) =>
      `${String(s.attributes[Attr.proxySpan])} ${String(s.attributes[Attr.errorType] ?? 'ok')} ${String(s.attributes[Attr.keptRule] ?? '-')}`).sort(),
  };
}

function delivery(tag: number, fields: Partial<Delivery> = {}): Delivery {
  return { tag, routing: ROUTING, queue: 'jobs', operation: 'deliver', noAck: false, redelivered: false, ...fields };
}

/** A publish of a message with a stamp `ageMs` old on the fake clock: what a delivery carries. */
function stamped(clock: FakeClock, ageMs: number, fields: FakeMessageFields = {}): FakeMessage {
  const stamp = String(Math.round((performance.timeOrigin + clock.now() - ageMs) * 1000));
  return fakeMessage({ ...fields, headers: { ...fields.headers, [Header.publishedAt]: stamp } });
}

test('published: a new trace and the publish stamp are written into the message, the span ends at the confirm', () => {
  const s = setup();
  const scope = s.tracer.scope();
  const message = fakeMessage({ messageId: 'm-1' });
  s.tracer.publishing.published(scope, message, ROUTING, 1);
  assert.is(message.rewrites, 1);
  assert.match(message.forwarded[Header.traceparent]!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.is(message.forwarded[Header.publishedAt], String(Math.round((performance.timeOrigin + s.clock.now()) * 1000)), 'the stamp is the clock\'s');
  assert.equal(s.spans(), [], 'open until the broker confirms');
  s.tracer.publishing.confirmed(scope, 1, false, 'ack');
  assert.equal(s.summary(), ['publish ok -']);
  assert.is(s.spans()[0]!.spanContext().spanId, message.forwarded[Header.traceparent]!.split('-')[2], 'the span is the message\'s creation context');
});

test('published without confirms (tag 0): the span ends at once; a continued traceparent is kept as the parent', () => {
  const s = setup();
  const message = fakeMessage({ headers: { [Header.traceparent]: SAMPLED_PARENT } });
  s.tracer.publishing.published(s.tracer.scope(), message, ROUTING, 0);
  assert.is(message.forwarded[Header.traceparent], SAMPLED_PARENT, 'continued, not replaced');
  assert.equal(s.summary(), ['publish ok -']);
  assert.is(s.spans()[0]!.parentSpanContext?.spanId, 'b7ad6b7169203331');
});

test('a rewrite that does not fit: counted as skipped, the span ends frame_max_exceeded, nothing awaits a confirm', () => {
  const s = setup();
  const scope = s.tracer.scope();
  s.tracer.publishing.published(scope, fakeMessage({}, 0), ROUTING, 1);
  assert.equal(s.summary(), ['publish frame_max_exceeded -']);
  s.tracer.publishing.confirmed(scope, 1, false, 'nack');
  assert.is(s.spans().length, 1, 'no second end');
});

test('confirmed: a nack ends the publish as nack; multiple settles every tag up to it', () => {
  const s = setup();
  const scope = s.tracer.scope();
  for (const tag of [1, 2, 3]) s.tracer.publishing.published(scope, fakeMessage(), ROUTING, tag);
  s.tracer.publishing.confirmed(scope, 2, true, 'nack');
  assert.equal(s.summary(), ['publish nack -', 'publish nack -']);
  s.tracer.publishing.confirmed(scope, 3, false, 'ack');
  assert.equal(s.summary(), ['publish nack -', 'publish nack -', 'publish ok -']);
});

test('returned: an event on the open publish span, which its confirm ends unroutable; without confirms, a return span', () => {
  const s = setup();
  const scope = s.tracer.scope();
  const message = fakeMessage();
  s.tracer.publishing.published(scope, message, ROUTING, 1);
  const returned = { ...ROUTING, replyCode: 312, replyText: 'NO_ROUTE' };
  s.tracer.publishing.returned(scope, fakeMessage({ headers: message.forwarded }), returned);
  s.tracer.publishing.confirmed(scope, 1, false, 'ack');
  assert.equal(s.summary(), ['publish unroutable -']);
  assert.equal(s.spans()[0]!.events.map((e) => [e.name, e.attributes?.['amqp.reply_code']]), [['basic.return', 312]]);
  const unconfirmed = fakeMessage();
  s.tracer.publishing.published(scope, unconfirmed, ROUTING, 0);
  s.tracer.publishing.returned(scope, fakeMessage({ headers: unconfirmed.forwarded }), returned);
  assert.equal(s.summary(), ['publish ok -', 'publish unroutable -', 'return unroutable -']);
});

test('delivered → settled: ack ends the process span ok, nack and reject as errors; auto-ack ends it at once', () => {
  const s = setup();
  const scope = s.tracer.scope();
  for (const tag of [1, 2, 3]) s.tracer.delivering.delivered(scope, fakeMessage({ headers: { [Header.traceparent]: SAMPLED_PARENT } }), delivery(tag));
  assert.equal(s.summary(), ['broker_hop ok -', 'broker_hop ok -', 'broker_hop ok -'], 'the hop ends at delivery, processing is open');
  s.tracer.delivering.settled(scope, 1, false, 'ack');
  s.tracer.delivering.settled(scope, 2, false, 'nack');
  s.tracer.delivering.settled(scope, 3, false, 'reject');
  s.tracer.delivering.delivered(scope, fakeMessage(), delivery(4, { noAck: true }));
  const process = s.summary().filter((x) => x.startsWith('process'));
  assert.equal(process, ['process nack -', 'process ok -', 'process ok -', 'process reject -']);
  assert.ok(s.spans().filter((x) => x.attributes[Attr.errorType] !== undefined).every((x) => x.status.code === SpanStatusCode.ERROR));
});

test('closed: what is in flight in the scope ends with the reason; a later settle finds nothing', () => {
  const s = setup();
  const scope = s.tracer.scope();
  s.tracer.publishing.published(scope, fakeMessage(), ROUTING, 1);
  s.tracer.delivering.delivered(scope, fakeMessage(), delivery(1));
  s.tracer.closed(scope, 'channel_closed');
  assert.equal(s.summary(), ['broker_hop ok -', 'process channel_closed -', 'publish channel_closed -']);
  s.tracer.delivering.settled(scope, 1, false, 'ack');
  s.tracer.publishing.confirmed(scope, 1, false, 'ack');
  assert.is(s.spans().length, 3);
  const other = s.tracer.scope();
  s.tracer.delivering.delivered(other, fakeMessage(), delivery(1));
  s.tracer.closed(other, 'connection_closed');
  assert.ok(s.summary().includes('process connection_closed -'));
});

/** Each outcome rule, with the sampler at 0: the one event sequence that fires it, and the spans it keeps. */
const RULES: Record<OutcomeRule, (s: Setup) => void> = {
  publish_nack: (s) => {
    const scope = s.tracer.scope();
    s.tracer.publishing.published(scope, fakeMessage(), ROUTING, 1);
    s.tracer.publishing.confirmed(scope, 1, false, 'nack');
  },
  publish_returned: (s) => {
    const scope = s.tracer.scope();
    const message = fakeMessage();
    s.tracer.publishing.published(scope, message, ROUTING, 1);
    s.tracer.publishing.returned(scope, fakeMessage({ headers: message.forwarded }), { ...ROUTING, replyCode: 312, replyText: 'NO_ROUTE' });
    s.tracer.publishing.confirmed(scope, 1, false, 'ack');
  },
  publish_closed: (s) => {
    const scope = s.tracer.scope();
    s.tracer.publishing.published(scope, fakeMessage(), ROUTING, 1);
    s.tracer.closed(scope, 'channel_closed');
  },
  confirm_latency: (s) => {
    const scope = s.tracer.scope();
    s.tracer.publishing.published(scope, fakeMessage(), ROUTING, 1);
    s.clock.advance(THRESHOLD_MS + 1);
    s.tracer.publishing.confirmed(scope, 1, false, 'ack');
  },
  delivery_nack: (s) => settle(s, 'nack'),
  delivery_reject: (s) => settle(s, 'reject'),
  delivery_closed: (s) => {
    const scope = s.tracer.scope();
    s.tracer.delivering.delivered(scope, fakeMessage({ headers: { [Header.traceparent]: UNSAMPLED_PARENT } }), delivery(1));
    s.tracer.closed(scope, 'connection_closed');
  },
  redelivered: (s) => {
    const scope = s.tracer.scope();
    s.tracer.delivering.delivered(scope, fakeMessage({ headers: { [Header.traceparent]: UNSAMPLED_PARENT } }), delivery(1, { redelivered: true }));
    s.tracer.delivering.settled(scope, 1, false, 'ack');
  },
  broker_hop_latency: (s) => {
    const scope = s.tracer.scope();
    s.tracer.delivering.delivered(scope, stamped(s.clock, THRESHOLD_MS + 1), delivery(1));
    s.tracer.delivering.settled(scope, 1, false, 'ack');
  },
  process_latency: (s) => {
    const scope = s.tracer.scope();
    s.tracer.delivering.delivered(scope, fakeMessage(), delivery(1));
    s.clock.advance(THRESHOLD_MS + 1);
    s.tracer.delivering.settled(scope, 1, false, 'ack');
  },
};

function settle(s: Setup, outcome: 'nack' | 'reject'): void {
  const scope = s.tracer.scope();
  s.tracer.delivering.delivered(scope, fakeMessage({ headers: { [Header.traceparent]: UNSAMPLED_PARENT } }), delivery(1));
  s.tracer.delivering.settled(scope, 1, false, outcome);
}

const PUBLISH_RULES = new Set<OutcomeRule>(['publish_nack', 'publish_returned', 'publish_closed', 'confirm_latency']);

for (const rule of OUTCOME_RULES) {
  test(`outcome rule ${rule}: an unsampled message is kept, every span of it marked with the rule`, () => {
    const s = setup({ sampled: false });
    RULES[rule](s);
    const spans = s.spans();
    assert.ok(spans.length > 0, 'kept');
    assert.ok(spans.every((x) => x.attributes[Attr.keptRule] === rule), s.summary().join(', '));
    const kinds = new Set(spans.map((x) => String(x.attributes[Attr.proxySpan])));
    assert.equal([...kinds].sort(), PUBLISH_RULES.has(rule) ? ['publish'] : ['broker_hop', 'process']);
  });

  test(`outcome rule ${rule}: nothing is kept with outcome keeping off (the do-nothing keeper)`, () => {
    const s = setup({ sampled: false, keeping: false });
    RULES[rule](s);
    assert.equal(s.spans(), []);
  });
}

test('each rule switched off keeps nothing by itself; a close then falls to the latency rule, as a confirm does', () => {
  for (const rule of OUTCOME_RULES) {
    const s = setup({ sampled: false, rulesOff: [rule] });
    RULES[rule](s);
    assert.equal(s.spans(), [], `${rule} off`);
  }
  const s = setup({ sampled: false, rulesOff: ['publish_closed'] });
  const scope = s.tracer.scope();
  s.tracer.publishing.published(scope, fakeMessage(), ROUTING, 1);
  s.clock.advance(THRESHOLD_MS + 1);
  s.tracer.closed(scope, 'channel_closed');
  assert.equal(s.summary(), ['publish channel_closed confirm_latency']);
});

test('latency rules at their boundary: exactly the threshold keeps nothing, one ms more keeps the message', () => {
  for (const over of [0, 1]) {
    const s = setup({ sampled: false });
    const scope = s.tracer.scope();
    s.tracer.publishing.published(scope, fakeMessage(), ROUTING, 1);
    s.clock.advance(THRESHOLD_MS + over);
    s.tracer.publishing.confirmed(scope, 1, false, 'ack');
    s.tracer.delivering.delivered(scope, stamped(s.clock, THRESHOLD_MS + over), delivery(1));
    s.clock.advance(THRESHOLD_MS + over);
    s.tracer.delivering.settled(scope, 1, false, 'ack');
    const rules = [...new Set(s.spans().map((x) => String(x.attributes[Attr.keptRule])))].sort();
    assert.equal(rules, over === 0 ? [] : ['broker_hop_latency', 'confirm_latency'], `${over} ms over`);
  }
});

test('a kept delivery brings the publish span this process created for it, once, with its real start', () => {
  const s = setup({ sampled: false });
  const scope = s.tracer.scope();
  const message = fakeMessage();
  s.tracer.publishing.published(scope, message, ROUTING, 1);
  const publishedAt = s.clock.now();
  s.clock.advance(5);
  s.tracer.publishing.confirmed(scope, 1, false, 'ack');
  assert.equal(s.spans(), [], 'confirmed in time: remembered, not kept');
  s.tracer.delivering.delivered(scope, fakeMessage({ headers: message.forwarded }), delivery(1));
  s.tracer.delivering.settled(scope, 1, false, 'reject');
  assert.equal(s.summary(), ['broker_hop ok delivery_reject', 'process reject delivery_reject', 'publish ok delivery_reject']);
  const publish = s.spans().find((x) => x.attributes[Attr.proxySpan] === 'publish')!;
  assert.is(publish.spanContext().spanId, message.forwarded[Header.traceparent]!.split('-')[2]);
  assert.is(publish.startTime[0] * 1000 + publish.startTime[1] / 1e6, performance.timeOrigin + publishedAt);
});

test('an eta ahead (issue 23): the hold is a scheduled_wait, not processing; process_latency measures the work after the eta', () => {
  const HOLD_MS = 5000;
  for (const workMs of [THRESHOLD_MS, THRESHOLD_MS + 1]) {
    const s = setup({ sampled: false });
    const scope = s.tracer.scope();
    const message = stamped(s.clock, 0, { headers: { [Header.traceparent]: UNSAMPLED_PARENT } });
    const etaMs = performance.timeOrigin + s.clock.now() + HOLD_MS;
    const history = { ...NO_HISTORY, celery: { retries: 1, eta: new Date(etaMs).toISOString(), etaMs } };
    message.headers.history = () => history;
    s.tracer.delivering.delivered(scope, message, delivery(1));
    s.clock.advance(HOLD_MS + workMs);
    s.tracer.delivering.settled(scope, 1, false, 'ack');
    if (workMs === THRESHOLD_MS) {
      assert.equal(s.summary(), [], 'a 5 s hold and 1 s of work is not slow');
      continue;
    }
    assert.equal(s.summary(), ['broker_hop ok process_latency', 'process ok process_latency', 'scheduled_wait ok process_latency']);
    const at = (name: string, end: boolean): number => {
      const span = s.spans().find((x) => x.attributes[Attr.proxySpan] === name)!;
      const [sec, ns] = end ? span.endTime : span.startTime;
      return sec * 1000 + ns / 1e6;
    };
    assert.ok(Math.abs(at('scheduled_wait', true) - etaMs) < 1, 'the wait ends at the eta');
    assert.ok(Math.abs(at('process', false) - etaMs) < 1, 'the kept process span starts at the eta');
  }
});

test.run();
