import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-node';
import type { SamplerName } from '../../../src/config/otelOptions';
import { createDecider, createNewTraceDecider, createSampler } from '../../../src/trace/telemetry';
import { NewTraceContext, parseTraceParent, randomSpanId, randomTraceId } from '../../../src/trace/traceparent';

const SAMPLERS: SamplerName[] = [
  'always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio',
];

// The proxy skips the SDK for unsampled messages, so its own decision must be the SDK's.
for (const name of SAMPLERS) {
  test(`the fast-path decision equals the SDK sampler's: ${name}`, () => {
    for (const ratio of [0, 0.1, 0.5, 1]) {
      const sampler = createSampler(name, ratio);
      const decide = createDecider(name, ratio);
      for (let i = 0; i < 2000; i++) {
        const traceId = randomTraceId();
        const parentFlags = i % 3 === 0 ? undefined : i % 3 === 1 ? TraceFlags.SAMPLED : TraceFlags.NONE;
        const ctx = parentFlags === undefined
          ? ROOT_CONTEXT
          : trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: randomSpanId(), traceFlags: parentFlags, isRemote: true });
        const sdk = sampler.shouldSample(ctx, traceId, 'x', SpanKind.PRODUCER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
        assert.is(decide(parentFlags, traceId), sdk, `${name} ratio ${ratio} flags ${parentFlags}`);
      }
    }
  });
}

// New traces are decided on their ids as bytes; the decision must still be the SDK's.
for (const name of SAMPLERS) {
  test(`a new trace's decision from its id bytes equals the SDK sampler's: ${name}`, () => {
    const fresh = new NewTraceContext();
    for (const ratio of [0, 0.001, 0.1, 0.5, 0.999, 1]) {
      const sampler = createSampler(name, ratio);
      const decide = createNewTraceDecider(name, ratio);
      let sampled = 0;
      for (let i = 0; i < 4000; i++) {
        fresh.draw();
        const sdk = sampler.shouldSample(ROOT_CONTEXT, fresh.traceId, 'x', SpanKind.PRODUCER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
        const ours = decide(fresh);
        if (ours) sampled++;
        assert.is(ours, sdk, `${name} ratio ${ratio} trace ${fresh.traceId}`);
      }
      // Both halves of the comparison must actually occur for the ratio samplers.
      if (name.endsWith('traceidratio') && ratio === 0.5) assert.ok(sampled > 1500 && sampled < 2500, `${sampled} of 4000`);
    }
  });
}

test('a new trace writes a valid unsampled traceparent of its ids', () => {
  const fresh = new NewTraceContext();
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    fresh.draw();
    const target = Buffer.alloc(fresh.byteLength + 2, 0xff);
    fresh.writeTo(target, 1);
    assert.is(target[0], 0xff);
    assert.is(target[target.length - 1], 0xff);
    const written = target.toString('latin1', 1, target.length - 1);
    assert.equal(parseTraceParent(written), { traceId: fresh.traceId, spanId: fresh.spanId, traceFlags: 0 });
    seen.add(written);
  }
  assert.is(seen.size, 1000);
});

test.run();
