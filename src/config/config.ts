import { FRAME_MIN_SIZE } from '../amqp/handshake';
import { DEFAULT_HTTP_LIMITS } from '../http/limits';
import { DEFAULT_MAX_FRAME_HOLD_BYTES } from '../proxy/limits';
import { DEFAULT_CONNECTION_STATE_MAX_BYTES, DEFAULT_STAMP_MAX_AGE_MS, DEFAULT_STATE_MAX_BYTES } from '../trace/limits';
import { OUTCOME_RULES, OutcomeRule } from '../trace/outcomeNames';
import { exporterEnvProblems } from './exporterEnv';
import { listenerProblems } from './listeners';
import {
  HostPort, OptionError, OptionSpec, integerIn, isBooleanWord, listOf, oneOf, optionalRegularFile, parseBoolean, parseHostPort,
  readableFile, redact, secretFile,
} from './options';
import { DEFAULT_OTLP_ENDPOINT, OTEL_OPTIONS } from './otelOptions';
import { tlsProblems } from './tlsCheck';
import { Upstream, parseUpstreamList } from './upstream';

/** The option table. Its keys are the config's field names. */
const OPTIONS = {
  listen: {
    flag: '--listen', env: 'PROXY_LISTEN', defaultValue: parseHostPort('0.0.0.0:5673'), parse: parseHostPort,
    shownDefault: '0.0.0.0:5673', help: 'host:port where AMQP clients connect',
  } as OptionSpec<HostPort>,
  upstreams: {
    flag: '--upstream', env: 'PROXY_UPSTREAM', defaultValue: parseUpstreamList('amqp://127.0.0.1:5672'),
    parse: parseUpstreamList, shownDefault: 'amqp://127.0.0.1:5672',
    help: 'broker URL(s), comma-separated; tried in order for each new client connection',
  } as OptionSpec<Upstream[]>,
  tracePropagation: {
    flag: '--trace-propagation', env: 'ENABLE_TRACE_PROPAGATION', defaultValue: true, parse: parseBoolean,
    help: 'false: start in bypass, every connection a plain TCP pipe that parses nothing (the ADR flag); a configured mode file overrides it, also at start',
  } as OptionSpec<boolean>,
  modeFile: {
    flag: '--mode-file', env: 'PROXY_MODE_FILE', defaultValue: undefined, parse: optionalRegularFile,
    shownDefault: '(none)', help: 'file holding "tracing" or "bypass", watched for changes (a mounted ConfigMap)',
  } as OptionSpec<string | undefined>,
  metricsListen: {
    flag: '--metrics-listen', env: 'METRICS_LISTEN', defaultValue: parseHostPort('0.0.0.0:9464') as HostPort | undefined,
    parse: (raw: string) => (raw.trim() === '' || raw.trim() === 'off' ? undefined : parseHostPort(raw)),
    shownDefault: '0.0.0.0:9464', help: 'host:port for /metrics, /healthz and /readyz ("off" disables)',
  } as OptionSpec<HostPort | undefined>,
  adminListen: {
    flag: '--admin-listen', env: 'ADMIN_LISTEN', defaultValue: parseHostPort('127.0.0.1:9465') as HostPort | undefined,
    parse: adminListen,
    shownDefault: '127.0.0.1:9465', help: 'host:port of the admin API (runtime bypass switch); "off" disables',
  } as OptionSpec<HostPort | undefined>,
  adminTokenFile: {
    flag: '--admin-token-file', env: 'ADMIN_TOKEN_FILE', defaultValue: undefined, parse: secretFile, shownDefault: '(none)',
    help: 'file holding a token (a mounted Kubernetes Secret); every admin API request must then carry "Authorization: Bearer <token>"; '
      + 'read again when it changes (checked at each request)',
  } as OptionSpec<string | undefined>,
  httpMaxConnections: {
    flag: '--http-max-connections', env: 'HTTP_MAX_CONNECTIONS', defaultValue: DEFAULT_HTTP_LIMITS.maxConnections,
    parse: integerIn(1, 100_000), limit: true,
    help: 'connections open at once on each of the metrics and admin listeners; more are closed at accept',
  } as OptionSpec<number>,
  httpRequestTimeoutMs: {
    flag: '--http-request-timeout-ms', env: 'HTTP_REQUEST_TIMEOUT_MS', defaultValue: DEFAULT_HTTP_LIMITS.requestTimeoutMs,
    parse: integerIn(100, 600_000), limit: true,
    help: 'on the metrics and admin listeners, a request must arrive whole (headers and body) within this time, '
      + 'and a connection that sends nothing is closed after it',
  } as OptionSpec<number>,
  rewriteOnDelivery: {
    flag: '--rewrite-on-delivery', env: 'PROXY_REWRITE_ON_DELIVERY', defaultValue: false, parse: parseBoolean,
    help: 'on delivery, replace traceparent with the broker-hop span so consumers continue from it',
  } as OptionSpec<boolean>,
  publishStamp: {
    flag: '--publish-stamp', env: 'PROXY_PUBLISH_STAMP', defaultValue: true, parse: parseBoolean,
    help: 'add x-trace-proxy-published-us (publish time) to each published message: the broker-hop span starts there and '
      + 'amqp_trace_proxy_broker_hop_seconds needs it; false adds traceparent alone',
  } as OptionSpec<boolean>,
  publishStampMaxAgeMs: {
    flag: '--publish-stamp-max-age-ms', env: 'PROXY_PUBLISH_STAMP_MAX_AGE_MS', defaultValue: DEFAULT_STAMP_MAX_AGE_MS,
    parse: integerIn(1000, 30 * 86_400_000), limit: true,
    help: 'a delivery whose publish stamp is older (or more than 1 s in the future) is not timed, and counted in '
      + 'amqp_trace_proxy_publish_stamps_ignored_total: anyone who can publish can write a stamp',
  } as OptionSpec<number>,
  continuation: {
    flag: '--continuation', env: 'PROXY_CONTINUATION', defaultValue: true, parse: parseBoolean,
    help: 'continue traces across hops without trace context (Celery parent_id, RPC reply_to + correlation_id)',
  } as OptionSpec<boolean>,
  continuationCapacity: {
    flag: '--continuation-capacity', env: 'PROXY_CONTINUATION_CAPACITY', defaultValue: 100_000,
    parse: integerIn(1, 10_000_000), limit: true, help: 'entries kept per continuation map (task ids, correlation ids)',
  } as OptionSpec<number>,
  inflightCapacity: {
    flag: '--inflight-capacity', env: 'PROXY_INFLIGHT_CAPACITY', defaultValue: 10_000,
    parse: integerIn(1, 10_000_000), limit: true, help: 'open spans kept per channel, for each of publishes awaiting a confirm and deliveries awaiting an ack; when full the oldest span ends as evicted',
  } as OptionSpec<number>,
  stateMaxBytes: {
    flag: '--state-max-bytes', env: 'PROXY_STATE_MAX_BYTES', defaultValue: DEFAULT_STATE_MAX_BYTES,
    parse: integerIn(1024 * 1024, 64 * 1024 * 1024 * 1024), shownDefault: '67108864 (64 MiB)', limit: true,
    help: 'bytes of message-derived state the process holds, all connections and process-wide maps together (unacked and unconfirmed '
      + 'message records, returnable header copies, task ids, reply addresses, queue names); when full the oldest entries of the map '
      + 'that needs room go, or a new entry is not kept, counted in amqp_trace_proxy_inflight_evictions_total',
  } as OptionSpec<number>,
  connectionStateMaxBytes: {
    flag: '--connection-state-max-bytes', env: 'PROXY_CONNECTION_STATE_MAX_BYTES', defaultValue: DEFAULT_CONNECTION_STATE_MAX_BYTES,
    parse: integerIn(64 * 1024, 64 * 1024 * 1024 * 1024), shownDefault: '16777216 (16 MiB)', limit: true,
    help: 'bytes of message-derived state one client connection holds, its channels together (part of --state-max-bytes); and as much '
      + 'again, apart, for what it keeps of its channels (2560 bytes each), consumers and requests awaiting replies: a channel over that '
      + 'is forwarded untraced',
  } as OptionSpec<number>,
  outcomeExport: {
    flag: '--outcome-export', env: 'PROXY_OUTCOME_EXPORT', defaultValue: true, parse: parseBoolean,
    help: 'export the spans of unsampled messages that fail or are slow (docs/DEBUGGING.md); needs OTEL_TRACES_EXPORTER=otlp',
  } as OptionSpec<boolean>,
  outcomeRulesOff: {
    flag: '--outcome-rules-off', env: 'PROXY_OUTCOME_RULES_OFF', defaultValue: [] as OutcomeRule[], parse: listOf(OUTCOME_RULES),
    shownDefault: '(none)', help: `outcome rules switched off, comma-separated: ${OUTCOME_RULES.join(', ')}`,
  } as OptionSpec<OutcomeRule[]>,
  outcomeConfirmOverMs: {
    flag: '--outcome-confirm-over-ms', env: 'PROXY_OUTCOME_CONFIRM_OVER_MS', defaultValue: 1000, parse: integerIn(0, 86_400_000),
    help: 'keep an unsampled publish whose broker confirm takes longer (confirm_latency; 0 keeps every confirmed publish, up to --outcome-rate-limit; --outcome-rules-off turns a rule off)',
  } as OptionSpec<number>,
  outcomeBrokerHopOverMs: {
    flag: '--outcome-broker-hop-over-ms', env: 'PROXY_OUTCOME_BROKER_HOP_OVER_MS', defaultValue: 5000, parse: integerIn(0, 86_400_000),
    help: 'keep an unsampled delivery that spent longer from publish to delivery (broker_hop_latency; 0 keeps every stamped delivery, up to --outcome-rate-limit)',
  } as OptionSpec<number>,
  outcomeProcessOverMs: {
    flag: '--outcome-process-over-ms', env: 'PROXY_OUTCOME_PROCESS_OVER_MS', defaultValue: 5000, parse: integerIn(0, 86_400_000),
    help: "keep an unsampled delivery whose consumer took longer to settle it (process_latency; the ADR's 5 s; 0 keeps every settled delivery, up to --outcome-rate-limit)",
  } as OptionSpec<number>,
  outcomeRateLimit: {
    flag: '--outcome-rate-limit', env: 'PROXY_OUTCOME_RATE_LIMIT', defaultValue: 100, parse: integerIn(1, 1_000_000),
    help: 'messages per second whose spans outcome rules may keep (bursts up to as many); the rest are counted as dropped',
  } as OptionSpec<number>,
  destinationLabels: {
    flag: '--destination-labels', env: 'METRICS_DESTINATION_LABELS', defaultValue: false, parse: parseBoolean,
    help: 'add a queue/exchange label to latency histograms (capped, see --destination-label-limit)',
  } as OptionSpec<boolean>,
  destinationLabelLimit: {
    flag: '--destination-label-limit', env: 'METRICS_DESTINATION_LABEL_LIMIT', defaultValue: 50,
    parse: integerIn(1, 10_000), limit: true, help: 'distinct queue/exchange label values before "__other__"',
  } as OptionSpec<number>,
  destinationLabelNames: {
    flag: '--destination-label-names', env: 'METRICS_DESTINATION_LABEL_NAMES', defaultValue: [] as string[],
    parse: (raw: string) => [...new Set(raw.split(',').map((v) => v.trim()).filter((v) => v !== ''))], shownDefault: '(none)',
    help: 'with --destination-labels, the queues and exchanges that get their own label value, comma-separated (a name ending in * '
      + 'is a prefix; the words (temporary) and (anonymous) are values too); every other one is __other__. Without it the first '
      + '--destination-label-limit names seen keep their values for the life of the process',
  } as OptionSpec<string[]>,
  connectTimeoutMs: {
    flag: '--connect-timeout-ms', env: 'PROXY_CONNECT_TIMEOUT_MS', defaultValue: 5000, parse: integerIn(1, 600_000),
    help: 'time allowed to connect to one upstream before trying the next',
  } as OptionSpec<number>,
  upstreamRetryAfterMs: {
    flag: '--upstream-retry-after-ms', env: 'PROXY_UPSTREAM_RETRY_AFTER_MS', defaultValue: 10_000, parse: integerIn(0, 3_600_000),
    help: 'an upstream that failed is tried after the healthy ones until this much time has passed',
  } as OptionSpec<number>,
  tlsCert: {
    flag: '--tls-cert', env: 'PROXY_TLS_CERT', defaultValue: undefined, parse: readableFile, shownDefault: '(none: plain AMQP)',
    help: 'PEM certificate chain: clients connect with AMQPS; reloaded when the file changes',
  } as OptionSpec<string | undefined>,
  tlsKey: {
    flag: '--tls-key', env: 'PROXY_TLS_KEY', defaultValue: undefined, parse: readableFile, shownDefault: '(none)',
    help: 'PEM private key of --tls-cert; reloaded when the file changes',
  } as OptionSpec<string | undefined>,
  tlsClientCa: {
    flag: '--tls-client-ca', env: 'PROXY_TLS_CLIENT_CA', defaultValue: undefined, parse: readableFile, shownDefault: '(none)',
    help: 'PEM CA bundle: clients must present a certificate it signed (mutual TLS)',
  } as OptionSpec<string | undefined>,
  upstreamTlsCa: {
    flag: '--upstream-tls-ca', env: 'PROXY_UPSTREAM_TLS_CA', defaultValue: undefined, parse: readableFile,
    shownDefault: '(system CAs)', help: 'PEM CA bundle that amqps:// upstream certificates must chain to',
  } as OptionSpec<string | undefined>,
  upstreamTlsCert: {
    flag: '--upstream-tls-cert', env: 'PROXY_UPSTREAM_TLS_CERT', defaultValue: undefined, parse: readableFile,
    shownDefault: '(none)', help: 'PEM client certificate presented to amqps:// upstreams',
  } as OptionSpec<string | undefined>,
  upstreamTlsKey: {
    flag: '--upstream-tls-key', env: 'PROXY_UPSTREAM_TLS_KEY', defaultValue: undefined, parse: readableFile,
    shownDefault: '(none)', help: 'PEM private key of --upstream-tls-cert',
  } as OptionSpec<string | undefined>,
  upstreamTlsInsecure: {
    flag: '--upstream-tls-insecure', env: 'PROXY_UPSTREAM_TLS_INSECURE', defaultValue: false, parse: parseBoolean,
    help: 'TESTING ONLY: accept any upstream certificate and host name (logged as a warning)',
  } as OptionSpec<boolean>,
  maxConnections: {
    flag: '--max-connections', env: 'PROXY_MAX_CONNECTIONS', defaultValue: 0, parse: integerIn(0, 1_000_000),
    limit: true, help: 'client connections open at once; more are closed at accept (0 = no limit)',
  } as OptionSpec<number>,
  handshakeTimeoutMs: {
    flag: '--handshake-timeout-ms', env: 'PROXY_HANDSHAKE_TIMEOUT_MS', defaultValue: 10_000, parse: integerIn(0, 600_000),
    limit: true, help: 'a client must finish TLS within this time, and then the AMQP handshake up to connection.open-ok (the protocol header first, before a broker connection is opened), else it is closed (0 = off)',
  } as OptionSpec<number>,
  idleTimeoutMs: {
    flag: '--idle-timeout-ms', env: 'PROXY_IDLE_TIMEOUT_MS', defaultValue: 0, parse: integerIn(0, 86_400_000),
    limit: true, help: 'a connection with no bytes either way for this long is closed with 320 (0 = off; heartbeats count as traffic)',
  } as OptionSpec<number>,
  opaqueIdleTimeoutMs: {
    flag: '--opaque-idle-timeout-ms', env: 'PROXY_OPAQUE_IDLE_TIMEOUT_MS', defaultValue: 180_000, parse: integerIn(0, 86_400_000),
    limit: true, help: 'a connection that became an opaque pipe before connection.open-ok (another protocol, such as AMQP 1.0, or bytes the proxy '
      + 'cannot frame), where --handshake-timeout-ms no longer applies, is closed after this long with no bytes either way (0 = off; '
      + 'a live connection of another protocol sends heartbeats, as AMQP 1.0 does when either side sets an idle-time-out)',
  } as OptionSpec<number>,
  maxFrameHoldBytes: {
    flag: '--max-frame-hold-bytes', env: 'PROXY_MAX_FRAME_HOLD_BYTES', defaultValue: DEFAULT_MAX_FRAME_HOLD_BYTES, parse: integerIn(FRAME_MIN_SIZE, 128 * 1024 * 1024),
    limit: true, help: 'the largest frame the proxy holds whole to read it (a method it inspects, a content header) when the negotiated frame_max is larger or 0 (no limit); '
      + 'a larger one makes its connection pass through untraced (fail_open_total{reason="oversized_frame"}). '
      + `Before connection.open-ok the bound is the spec's frame-min-size, ${FRAME_MIN_SIZE} bytes, whatever this says`,
  } as OptionSpec<number>,
  drainTimeoutMs: {
    flag: '--drain-timeout-ms', env: 'DRAIN_TIMEOUT_MS', defaultValue: 15_000, parse: integerIn(0, 3_600_000),
    help: 'on SIGTERM/SIGINT, how long existing connections keep working before connection.close 320',
  } as OptionSpec<number>,
  logLevel: {
    flag: '--log-level', env: 'LOG_LEVEL', defaultValue: 'info',
    parse: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'), help: 'log level',
  } as OptionSpec<string>,
  // OpenTelemetry's own settings, under the specification's names: last in --help and the docs.
  ...OTEL_OPTIONS,
};

/**
 * The admin API's address. `:PORT` is refused rather than read as every interface (as it is
 * for the other listeners): the admin API switches tracing off for every client, and an
 * operator who left out the host most likely meant the default, loopback.
 */
function adminListen(raw: string): HostPort | undefined {
  const value = raw.trim();
  if (value === '' || value === 'off') return undefined;
  if (/^:\d*$/.test(value)) {
    throw new OptionError(`"${value}" has no host: write 127.0.0.1${value} (loopback, the default) or, to serve every interface `
      + `on purpose, 0.0.0.0${value} with --admin-token-file`);
  }
  return parseHostPort(value);
}

type Options = typeof OPTIONS;
export type ProxyConfig = { -readonly [K in keyof Options]: Options[K] extends OptionSpec<infer T> ? T : never };

export class ConfigError extends Error {
  readonly problems: string[];

  /** Each problem is redacted again: a message that quotes a raw value must not print its credentials. */
  constructor(problems: string[]) {
    const redacted = problems.map(redact);
    super(`invalid configuration:\n${redacted.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = redacted;
  }
}

export class HelpRequested extends Error {}

/**
 * Builds the config from defaults, then env, then flags. Collects every problem before
 * failing, so an operator fixes a bad deployment in one round.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ProxyConfig {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  const byFlag = new Map<string, string>();
  /** Keys whose value could not be parsed: cross-checks skip them rather than pile on. */
  const failed = new Set<string>();
  /** Keys set by the environment or a flag, not left at their default. */
  const given = new Set<string>();
  for (const [key, spec] of Object.entries(OPTIONS) as [string, OptionSpec<unknown>][]) {
    config[key] = spec.defaultValue;
    if (spec.flag) byFlag.set(spec.flag, key);
  }
  const apply = (key: string, raw: string, source: string): void => {
    const spec = (OPTIONS as Record<string, OptionSpec<unknown>>)[key]!;
    try {
      config[key] = spec.parse(raw);
      given.add(key);
    } catch (err) {
      failed.add(key);
      problems.push(`${source}: ${err instanceof OptionError ? err.message : String(err)}`);
    }
  };
  for (const [key, spec] of Object.entries(OPTIONS) as [string, OptionSpec<unknown>][]) {
    const raw = spec.env ? env[spec.env] : undefined;
    // The OpenTelemetry SDK specification: an empty OTEL_* variable means the same as an unset one.
    if (raw === undefined || (raw.trim() === '' && spec.env!.startsWith('OTEL_'))) continue;
    apply(key, raw, spec.env!);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') throw new HelpRequested(helpText());
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = byFlag.get(flag);
    if (key === undefined) {
      problems.push(`unknown argument "${arg}" (see --help)`);
      continue;
    }
    const spec = (OPTIONS as Record<string, OptionSpec<unknown>>)[key]!;
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    // A boolean flag alone means true; a following true/false word is its value.
    else if (spec.parse === parseBoolean) value = argv[i + 1] !== undefined && isBooleanWord(argv[i + 1]!) ? argv[++i] : 'true';
    else value = argv[++i];
    if (value === undefined) problems.push(`${flag}: missing value`);
    else apply(key, value, flag);
  }
  problems.push(...tlsProblems(config as ProxyConfig, failed));
  problems.push(...listenerProblemsOf(config as ProxyConfig, failed));
  problems.push(...batchProblems(config as ProxyConfig, failed, given));
  const exporting = config as ProxyConfig;
  // The OpenTelemetry SDK specification's off switch: the proxy's only SDK signal is traces.
  if (exporting.sdkDisabled) exporting.tracesExporter = 'none';
  if (exporting.tracesExporter === 'otlp' && !failed.has('tracesExporter') && !failed.has('otlpEndpoint') && !failed.has('otlpTracesEndpoint')) {
    problems.push(...exporterEnvProblems(env, exporting.otlpTracesEndpoint ?? exporting.otlpEndpoint ?? DEFAULT_OTLP_ENDPOINT));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config as ProxyConfig;
}

/** How an operator finds an option: "--metrics-listen (METRICS_LISTEN)". */
export function optionLabel(key: keyof ProxyConfig): string {
  const spec = OPTIONS[key] as OptionSpec<unknown>;
  return spec.flag && spec.env ? `${spec.flag} (${spec.env})` : (spec.flag ?? spec.env!);
}

/**
 * A batch larger than the queue could never fill (the SDK would shrink it with a warning
 * nobody sees): an error when set so, the queue size when only the queue was made smaller.
 */
function batchProblems(config: ProxyConfig, failed: ReadonlySet<string>, given: ReadonlySet<string>): string[] {
  if (failed.has('bspMaxQueueSize') || failed.has('bspMaxExportBatchSize')) return [];
  if (config.bspMaxExportBatchSize <= config.bspMaxQueueSize) return [];
  if (!given.has('bspMaxExportBatchSize')) {
    config.bspMaxExportBatchSize = config.bspMaxQueueSize;
    return [];
  }
  return [`${optionLabel('bspMaxExportBatchSize')}: ${config.bspMaxExportBatchSize} is larger than ${optionLabel('bspMaxQueueSize')} `
    + `(${config.bspMaxQueueSize}): a batch cannot hold more spans than the queue; lower the batch size or raise the queue size`];
}

function listenerProblemsOf(config: ProxyConfig, failed: ReadonlySet<string>): string[] {
  const listeners = (['listen', 'metricsListen', 'adminListen'] as const)
    .filter((key) => !failed.has(key) && config[key] !== undefined)
    .map((key) => ({ option: optionLabel(key), address: config[key]! }));
  const upstreams = failed.has('listen') || failed.has('upstreams') ? [] : config.upstreams;
  return listenerProblems(listeners, upstreams, optionLabel('upstreams'));
}

/** An option as documentation shows it: its names, its default as --help prints it, its help. */
export interface OptionDoc {
  readonly names: string;
  readonly shownDefault: string;
  readonly help: string;
}

function optionDoc(spec: OptionSpec<unknown>): OptionDoc {
  const flag = spec.flag && spec.parse === parseBoolean ? `${spec.flag} [true|false]` : spec.flag;
  return { names: [flag, spec.env].filter(Boolean).join(' / '), shownDefault: spec.shownDefault ?? String(spec.defaultValue), help: spec.help };
}

/** The options marked `limit: true`, in table order: docs/SECURITY.md's limits table. */
export function limitOptions(): OptionDoc[] {
  return Object.values(OPTIONS as Record<string, OptionSpec<unknown>>).filter((spec) => spec.limit).map(optionDoc);
}

export function helpText(): string {
  const rows = Object.values(OPTIONS as Record<string, OptionSpec<unknown>>).map((spec) => {
    const doc = optionDoc(spec);
    return `  ${doc.names}\n      ${doc.help} (default: ${doc.shownDefault})`;
  });
  return [
    'amqp-trace-proxy: an AMQP 0-9-1 proxy that adds W3C trace context to published messages.',
    '',
    'Usage: amqp-trace-proxy [options]',
    '       amqp-trace-proxy webhook --help   (Kubernetes sidecar-injection webhook)',
    '',
    'Options (flags win over environment variables, which win over defaults):',
    ...rows,
    '',
  ].join('\n');
}
