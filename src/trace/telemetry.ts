import { Context, ROOT_CONTEXT } from '@opentelemetry/api';
import { ExportResult, ExportResultCode } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
// The SDK's trace package itself, not sdk-trace-node or sdk-trace-base: those are shims over
// it that pin their own copies of core, resources and sdk-trace, and the proxy needs neither a
// tracer provider nor a context manager (docs/PERFORMANCE.md, the sidecar's idle memory).
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, SamplingDecision, TraceIdRatioBasedSampler,
  type ReadableSpan, type Sampler, type Span, type SpanExporter, type SpanLimits, type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { ProxyConfig } from '../config/config';
import { DEFAULT_OTLP_ENDPOINT, type SamplerName } from '../config/otelOptions';
import { redact } from '../config/options';
import { Logger, RateLimitedLog } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import { DeferredExporter } from './deferredExporter';
import { RetryingSender } from './exportRetry';
import { createOtlpGrpcSender, serializeRequest, warmUpExport } from './otlpExport';
import type { SpanSink } from './recordedSpan';
import { SEMCONV_SCHEMA_URL } from './semconv';
import type { NewTraceContext } from './traceparent';


/**
 * The configured sampler's decision, computed without creating a span: `parentFlags` is
 * undefined for a new trace. Most messages are not sampled, and for those the proxy never
 * touches the SDK (see MessageSpans).
 */
export type SampleDecider = (parentFlags: number | undefined, traceId: string) => boolean;

export interface Telemetry {
  /** Where sampled spans go (RecordedSpan): the span processor, or nowhere with OTEL_TRACES_EXPORTER=none. */
  readonly sink: SpanSink;
  /** The sink of spans kept for their outcome; undefined when no spans are exported: nothing would be kept. */
  readonly keep: SpanSink | undefined;
  readonly sampled: SampleDecider;
  /** True when a parent's flags alone decide (every sampler but the plain trace-id ratio one). */
  readonly parentDecides: boolean;
  /** `sampled` for a new trace, decided on its ids as bytes (see NewTraceContext). */
  readonly sampledNewTrace: (ctx: NewTraceContext) => boolean;
  /** Ended spans not yet exported or dropped (bounded by OTEL_BSP_MAX_QUEUE_SIZE). */
  pendingSpans(): number;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * The SDK sampler a sampler name stands for: the reference createDecider and
 * createNewTraceDecider are checked against (sampling.test.ts). The proxy decides with
 * those, before a span is started (see the provider in startTelemetry).
 */
export function createSampler(name: SamplerName, ratio: number): Sampler {
  const table: Record<SamplerName, () => Sampler> = {
    always_on: () => new AlwaysOnSampler(),
    always_off: () => new AlwaysOffSampler(),
    traceidratio: () => new TraceIdRatioBasedSampler(ratio),
    parentbased_always_on: () => new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    parentbased_always_off: () => new ParentBasedSampler({ root: new AlwaysOffSampler() }),
    parentbased_traceidratio: () => new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
  };
  return table[name]();
}

/** Mirrors createSampler; parents are always remote here (they come from messages). */
export function createDecider(name: SamplerName, ratio: number): SampleDecider {
  const byRatio = new TraceIdRatioBasedSampler(ratio);
  const ratioSays = (traceId: string): boolean =>
    byRatio.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED;
  const parentSays = (flags: number): boolean => (flags & 1) === 1;
  const table: Record<SamplerName, SampleDecider> = {
    always_on: () => true,
    always_off: () => false,
    traceidratio: (_flags, traceId) => ratioSays(traceId),
    parentbased_always_on: (flags) => (flags === undefined ? true : parentSays(flags)),
    parentbased_always_off: (flags) => (flags === undefined ? false : parentSays(flags)),
    parentbased_traceidratio: (flags, traceId) => (flags === undefined ? ratioSays(traceId) : parentSays(flags)),
  };
  return table[name];
}

/**
 * The decider for a new trace whose ids are still bytes (NewTraceContext): the same
 * decision as createDecider's with no parent, without formatting the trace id first.
 */
export function createNewTraceDecider(name: SamplerName, ratio: number): (ctx: NewTraceContext) => boolean {
  // TraceIdRatioBasedSampler's bound, computed as it does.
  const normalized = Number.isNaN(ratio) ? 0 : ratio >= 1 ? 1 : ratio <= 0 ? 0 : ratio;
  const upperBound = normalized === 1 ? 0x100000000 : Math.floor(normalized * 0xffffffff);
  const byRatio = (ctx: NewTraceContext): boolean => ctx.ratioKey < upperBound;
  const table: Record<SamplerName, (ctx: NewTraceContext) => boolean> = {
    always_on: () => true,
    always_off: () => false,
    traceidratio: byRatio,
    parentbased_always_on: () => true,
    parentbased_always_off: () => false,
    parentbased_traceidratio: byRatio,
  };
  return table[name];
}

/**
 * Counts what the exporter delivered and what it lost, and keeps the export queue bounded:
 * a collector that is down or slow costs dropped spans, never memory or forwarding time.
 */
class CountingProcessor implements SpanProcessor {
  private queued = 0;

  constructor(
    private readonly inner: SpanProcessor,
    private readonly metrics: ProxyMetrics,
    private readonly maxQueued: number,
  ) {}

  /** Spans handed to the exporter and not yet settled: bounded by maxQueued. */
  get pending(): number {
    return this.queued;
  }

  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    if (this.queued >= this.maxQueued) {
      this.metrics.spansDropped(1);
      return;
    }
    this.queued++;
    this.inner.onEnd(span);
  }

  settled(n: number): void {
    this.queued = Math.max(0, this.queued - n);
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

class CountingExporter implements SpanExporter {
  processor: CountingProcessor | undefined;
  /** The first failure's warning says how to fix it (the quick start runs without a collector). */
  private failedBefore = false;

  constructor(
    private readonly endpoint: string,
    private readonly inner: SpanExporter,
    private readonly metrics: ProxyMetrics,
    private readonly log: RateLimitedLog,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      this.processor?.settled(spans.length);
      if (result.code === ExportResultCode.SUCCESS) this.metrics.spansExported(spans.length);
      else {
        this.metrics.spansDropped(spans.length);
        this.log.warn('export', { spans: spans.length, error: result.error?.message, endpoint: this.endpoint }, this.failedBefore
          ? 'span export failed; spans dropped'
          : `span export to ${this.endpoint} failed; spans dropped. Set OTEL_EXPORTER_OTLP_ENDPOINT to your collector's `
            + 'OTLP gRPC address, or OTEL_TRACES_EXPORTER=none to export no spans (messages still get traceparent either way)');
        this.failedBefore = true;
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** What the provider's getTracer would make for the proxy. */
const PROXY_SCOPE = { name: 'amqp-trace-proxy', version: undefined, schemaUrl: SEMCONV_SCHEMA_URL };

/** How long the warm-up channel waits for the collector at start (it sends nothing). */
const CHANNEL_WARM_UP_MS = 5000;

export function startTelemetry(config: ProxyConfig, metrics: ProxyMetrics, logger: Logger): Telemetry {
  const resource = defaultResource().merge(resourceFromAttributes({
    ...config.resourceAttributes,
    'service.name': config.serviceName,
  }));
  let processor: CountingProcessor | undefined;
  let pendingSpans = (): number => 0;
  let retrying: RetryingSender | undefined;
  if (config.tracesExporter === 'otlp') {
    const url = config.otlpTracesEndpoint ?? config.otlpEndpoint ?? DEFAULT_OTLP_ENDPOINT;
    const sender = createOtlpGrpcSender(url, config.bspExportTimeoutMs);
    // Half the export timeout: a batch still retrying is settled before the batch processor
    // gives up waiting for it.
    retrying = new RetryingSender(sender, {
      windowMs: config.bspExportTimeoutMs / 2,
      onRetry: () => metrics.telemetryError('span_export_retry'),
    });
    const batchSize = Math.min(config.bspMaxExportBatchSize, config.bspMaxQueueSize);
    const exporter = new CountingExporter(
      redact(url),
      new DeferredExporter(retrying, serializeRequest, { fullBatch: batchSize }),
      metrics,
      new RateLimitedLog(logger, 30_000),
    );
    // The batch processor's own queue is larger than ours, so every drop happens (and is
    // counted) here rather than silently inside the SDK.
    const counting = new CountingProcessor(new BatchSpanProcessor({
      exporter,
      maxQueueSize: config.bspMaxQueueSize * 2,
      // A batch is serialized in slices between socket reads (DeferredExporter), so its
      // size costs no latency; each gRPC request costs 0.7 ms of CPU whatever it carries
      // (docs/PERFORMANCE.md).
      maxExportBatchSize: batchSize,
      scheduledDelayMillis: config.bspScheduleDelayMs,
      exportTimeoutMillis: config.bspExportTimeoutMs,
    }), metrics, config.bspMaxQueueSize);
    pendingSpans = () => counting.pending;
    exporter.processor = counting;
    processor = counting;
    logger.info({ endpoint: redact(url), sampler: config.sampler, ratio: config.samplerArg }, 'exporting spans over OTLP gRPC');
    try {
      logger.debug({ ms: Math.round(warmUpExport(resource, PROXY_SCOPE)) }, 'export path warmed up');
    } catch (err) {
      // Only the first export's latency depends on it.
      logger.warn({ error: (err as Error).message }, 'export warm-up failed; continuing without it');
    }
    void sender.warmUpChannel(CHANNEL_WARM_UP_MS).then((connected) => {
      logger.debug({ endpoint: redact(url), connected }, 'export channel warmed up');
    });
  }
  // The proxy records its spans itself (RecordedSpan) and hands them to the processor; no
  // tracer provider is needed to start spans, flush or shut down.
  const active = processor;
  const sink: SpanSink = {
    resource,
    scope: PROXY_SCOPE,
    limits: spanLimits(config),
    end: active === undefined ? () => undefined : (span) => {
      try {
        active.onEnd(span);
      } catch {
        metrics.telemetryError('span_end');
      }
    },
  };
  return {
    sink,
    keep: active === undefined ? undefined : sink,
    sampled: createDecider(config.sampler, config.samplerArg),
    sampledNewTrace: createNewTraceDecider(config.sampler, config.samplerArg),
    parentDecides: config.sampler !== 'traceidratio',
    pendingSpans: () => pendingSpans(),
    forceFlush: () => active?.forceFlush() ?? Promise.resolve(),
    shutdown: () => {
      retrying?.stopRetrying();
      return active?.shutdown() ?? Promise.resolve();
    },
  };
}

/** The span-limit options of the config, as the SDK names them. */
type SpanLimitOptions = Pick<ProxyConfig,
  'attributeCountLimit' | 'attributeValueLengthLimit' | 'spanAttributeCountLimit' | 'spanAttributeValueLengthLimit'
  | 'spanLinkCountLimit' | 'spanEventCountLimit' | 'spanAttributePerEventCountLimit' | 'spanAttributePerLinkCountLimit'>;

/**
 * The span limits as the SDK's provider resolves them (its reconfigureLimits: a span's own
 * limit, else the general attribute limit), or undefined when all are the defaults: 128 of
 * each and no length limit, which the proxy's spans (at most about 25 attributes, one link,
 * one event) never reach.
 */
export function spanLimits(config: SpanLimitOptions): Required<SpanLimits> | undefined {
  const limits: Required<SpanLimits> = {
    attributeCountLimit: config.spanAttributeCountLimit ?? config.attributeCountLimit,
    attributeValueLengthLimit: config.spanAttributeValueLengthLimit ?? config.attributeValueLengthLimit ?? Infinity,
    linkCountLimit: config.spanLinkCountLimit,
    eventCountLimit: config.spanEventCountLimit,
    attributePerEventCountLimit: config.spanAttributePerEventCountLimit,
    attributePerLinkCountLimit: config.spanAttributePerLinkCountLimit,
  };
  const { attributeValueLengthLimit, ...counts } = limits;
  const defaults = attributeValueLengthLimit === Infinity && Object.values(counts).every((v) => v === 128);
  return defaults ? undefined : limits;
}
