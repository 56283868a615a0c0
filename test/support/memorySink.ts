import { defaultResource } from '@opentelemetry/resources';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import type { SpanSink } from '../../src/trace/recordedSpan';

/** A SpanSink as startTelemetry makes one, its spans kept in memory instead of exported. */
export function memorySink(exporter: InMemorySpanExporter = new InMemorySpanExporter()): SpanSink & { exporter: InMemorySpanExporter } {
  return {
    exporter,
    resource: defaultResource(),
    scope: { name: 'test', version: undefined, schemaUrl: undefined },
    limits: undefined,
    end: (span) => exporter.export([span], () => undefined),
  };
}
