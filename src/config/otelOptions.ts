/**
 * The options OpenTelemetry's specification names (OTEL_*), part of config.ts's option table:
 * the exporter, the sampler, the batch processor and the span limits. The proxy reads them
 * here, validated with the rest, rather than leaving the SDK to read the environment itself.
 */
import {
  OptionSpec, integerIn, oneOf, otlpGrpcEndpoint, otlpProtocol, parseBoolean, propagators, ratio, resourceAttributes, text,
} from './options';

export type SamplerName =
  | 'always_on' | 'always_off' | 'traceidratio'
  | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';

/** Where spans go when no OTLP endpoint is configured (the exporter's own default). */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4317';

/** A span limit above this is no limit in practice (a proxy span carries about 25 attributes). */
const SPAN_LIMIT_MAX = 1_000_000;

export const OTEL_OPTIONS = {
  serviceName: {
    env: 'OTEL_SERVICE_NAME', defaultValue: 'amqp-trace-proxy', parse: text, help: 'service.name of the spans',
  } as OptionSpec<string>,
  resourceAttributes: {
    env: 'OTEL_RESOURCE_ATTRIBUTES', defaultValue: {}, parse: resourceAttributes, shownDefault: '(none)',
    help: 'extra resource attributes, key=value,key=value (values percent-encoded)',
  } as OptionSpec<Record<string, string>>,
  otlpEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT', defaultValue: undefined, parse: otlpGrpcEndpoint, shownDefault: DEFAULT_OTLP_ENDPOINT,
    help: 'OTLP gRPC endpoint of the collector, a URL: http://host:4317, or https:// for TLS',
  } as OptionSpec<string | undefined>,
  otlpTracesEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', defaultValue: undefined, parse: otlpGrpcEndpoint, shownDefault: '(none)',
    help: 'OTLP gRPC endpoint for traces; wins over OTEL_EXPORTER_OTLP_ENDPOINT',
  } as OptionSpec<string | undefined>,
  otlpProtocol: {
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL', defaultValue: 'grpc', parse: otlpProtocol,
    help: 'only "grpc" (OTLP/HTTP is not supported; any other value is a configuration error)',
  } as OptionSpec<'grpc'>,
  otlpTracesProtocol: {
    env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', defaultValue: 'grpc', parse: otlpProtocol,
    help: 'as OTEL_EXPORTER_OTLP_PROTOCOL, for traces',
  } as OptionSpec<'grpc'>,
  sdkDisabled: {
    env: 'OTEL_SDK_DISABLED', defaultValue: false, parse: parseBoolean,
    help: 'true: export no spans, as OTEL_TRACES_EXPORTER=none (trace context is still added to messages)',
  } as OptionSpec<boolean>,
  tracesExporter: {
    env: 'OTEL_TRACES_EXPORTER', defaultValue: 'otlp', parse: oneOf('otlp', 'none'),
    help: '"none" keeps trace context propagation but exports no spans',
  } as OptionSpec<'otlp' | 'none'>,
  sampler: {
    env: 'OTEL_TRACES_SAMPLER', defaultValue: 'parentbased_traceidratio' as SamplerName,
    parse: oneOf<SamplerName>('always_on', 'always_off', 'traceidratio', 'parentbased_always_on',
      'parentbased_always_off', 'parentbased_traceidratio'),
    help: 'sampler for new traces and for continued ones',
  } as OptionSpec<SamplerName>,
  bspScheduleDelayMs: {
    env: 'OTEL_BSP_SCHEDULE_DELAY', defaultValue: 1000, parse: integerIn(1, 600_000),
    help: 'milliseconds between span export batches',
  } as OptionSpec<number>,
  bspMaxQueueSize: {
    env: 'OTEL_BSP_MAX_QUEUE_SIZE', defaultValue: 4096, parse: integerIn(1, 1_000_000),
    limit: true, help: 'ended spans waiting for export; beyond it spans are dropped and counted',
  } as OptionSpec<number>,
  bspMaxExportBatchSize: {
    env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', defaultValue: 512, parse: integerIn(1, 100_000),
    help: 'spans per export request; each gRPC request costs about 0.7 ms of CPU whatever its size, so small batches multiply the cost of export (docs/PERFORMANCE.md); '
      + 'at most OTEL_BSP_MAX_QUEUE_SIZE (a larger value is a configuration error; unset, it is the queue size when that is smaller than 512)',
  } as OptionSpec<number>,
  bspExportTimeoutMs: {
    env: 'OTEL_BSP_EXPORT_TIMEOUT', defaultValue: 10_000, parse: integerIn(1, 600_000),
    help: 'milliseconds one export may take before its spans count as dropped',
  } as OptionSpec<number>,
  samplerArg: {
    env: 'OTEL_TRACES_SAMPLER_ARG', defaultValue: 0.1, parse: ratio, help: 'ratio for the traceidratio samplers',
  } as OptionSpec<number>,
  propagators: {
    env: 'OTEL_PROPAGATORS', defaultValue: ['tracecontext', 'baggage'], parse: propagators,
    shownDefault: 'tracecontext,baggage',
    help: 'the proxy propagates W3C trace context only: the list must include tracecontext and may include baggage '
      + '(a baggage header passes through untouched); any other propagator (b3, jaeger, xray, none, ...) is a configuration error',
  } as OptionSpec<string[]>,
  attributeCountLimit: {
    env: 'OTEL_ATTRIBUTE_COUNT_LIMIT', defaultValue: 128, parse: integerIn(0, SPAN_LIMIT_MAX),
    help: 'attributes a span keeps (the newest are dropped, as the SDK does); OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT wins over it',
  } as OptionSpec<number>,
  attributeValueLengthLimit: {
    env: 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', defaultValue: undefined, parse: integerIn(0, SPAN_LIMIT_MAX), shownDefault: '(no limit)',
    help: 'characters a string attribute keeps (values taken from messages are cut at 256 already); OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT wins over it',
  } as OptionSpec<number | undefined>,
  spanAttributeCountLimit: {
    env: 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', defaultValue: undefined, parse: integerIn(0, SPAN_LIMIT_MAX), shownDefault: '(OTEL_ATTRIBUTE_COUNT_LIMIT)',
    help: 'attributes a span keeps',
  } as OptionSpec<number | undefined>,
  spanAttributeValueLengthLimit: {
    env: 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', defaultValue: undefined, parse: integerIn(0, SPAN_LIMIT_MAX),
    shownDefault: '(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)', help: 'characters a string attribute of a span keeps',
  } as OptionSpec<number | undefined>,
  spanLinkCountLimit: {
    env: 'OTEL_SPAN_LINK_COUNT_LIMIT', defaultValue: 128, parse: integerIn(0, SPAN_LIMIT_MAX), help: 'links a span keeps (a proxy span has at most one)',
  } as OptionSpec<number>,
  spanEventCountLimit: {
    env: 'OTEL_SPAN_EVENT_COUNT_LIMIT', defaultValue: 128, parse: integerIn(0, SPAN_LIMIT_MAX), help: 'events a span keeps (a proxy span has at most one)',
  } as OptionSpec<number>,
  spanAttributePerEventCountLimit: {
    env: 'OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT', defaultValue: 128, parse: integerIn(0, SPAN_LIMIT_MAX), help: 'attributes an event keeps',
  } as OptionSpec<number>,
  spanAttributePerLinkCountLimit: {
    env: 'OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT', defaultValue: 128, parse: integerIn(0, SPAN_LIMIT_MAX), help: 'attributes a link keeps',
  } as OptionSpec<number>,
};
