import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-node';
import type { SamplerName } from '../../../src/config/config';
import { createDecider, createSampler } from '../../../src/trace/telemetry';
import { randomSpanId, randomTraceId } from '../../../src/trace/traceparent';

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

test.run();
