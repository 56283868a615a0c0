import { ProxyConfig, optionLabel } from './config/config';
import { exporterSecrets } from './config/exporterEnv';
import { cannotListen } from './config/listeners';
import type { HostPort } from './config/options';
import { Logger } from './log/logger';
import { ProxyMetrics, createMetrics } from './metrics/metrics';
import { HttpServerHandle, startHttpServer } from './metrics/httpServer';
import { drain } from './proxy/drain';
import { collectGarbageNow } from './proxy/gcTuning';
import { ProxyServer } from './proxy/proxyServer';
import { UpstreamTls, watchCertificates } from './proxy/tls';
import { UpstreamConnector, anyUpstreamReachable, cachedCheck } from './proxy/upstreamConnector';
import type { ModeSwitch } from './trace/tracingOptions';
import { routeOtelDiagnostics } from './trace/diagLog';
import { Telemetry, startTelemetry } from './trace/telemetry';
import { createTracing } from './trace/tracing';
import { startAdminServer } from './admin/adminServer';
import { watchModeFile } from './admin/modeFile';
import { ModeController } from './admin/modeSwitch';

const CLOSE_GRACE_MS = 5000;
const READY_PROBE_TIMEOUT_MS = 1000;
/** /readyz reuses a broker check this long: at most one probe connection per second. */
const READY_PROBE_MAX_AGE_MS = 1000;

export interface App {
  readonly proxyAddress: HostPort;
  readonly metricsAddress: HostPort | undefined;
  readonly adminAddress: HostPort | undefined;
  readonly modeController: ModeController;
  readonly metrics: ProxyMetrics;
  readonly mode: ModeSwitch;
  readonly telemetry: Telemetry;
  readonly server: ProxyServer;
  /** Graceful: drain, close with 320, flush spans. */
  drain(): Promise<void>;
  /** Immediate: drop connections, flush spans, close listeners. */
  stop(): Promise<void>;
}

/** Start-up failed; the message is the one line an operator needs (address and option). */
export class StartupError extends Error {}

/** A signal arrived during start-up: everything opened so far has been closed again. */
export class StartupAborted extends Error {}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Opens one listener; a failure names the address and the option that sets it. */
async function bind<T>(option: keyof ProxyConfig, address: HostPort, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    throw new StartupError(cannotListen(address, optionLabel(option), err));
  }
}

/**
 * Wires the proxy from a validated config. main.ts adds only process concerns (signals, exit).
 *
 * All or nothing: every listener is bound, or whatever was opened is closed again and this
 * rejects (StartupError, or StartupAborted when `abort` fired). The AMQP listener opens last,
 * so no client is ever accepted by a process that then fails to start.
 */
export async function startApp(config: ProxyConfig, logger: Logger, abort?: AbortSignal): Promise<App> {
  /** Closers of what is open so far, undone in reverse when start-up fails. */
  const opened: (() => unknown)[] = [];
  const checkAbort = (): void => {
    if (abort?.aborted) throw new StartupAborted('stopped by a signal during start-up');
  };
  try {
    return await wire(config, logger, opened, checkAbort);
  } catch (err) {
    for (const close of opened.reverse()) {
      await Promise.resolve().then(close).catch((closeErr: Error) => logger.debug({ err: closeErr.message }, 'close after failed start'));
    }
    throw err;
  }
}

async function wire(config: ProxyConfig, logger: Logger, opened: (() => unknown)[], checkAbort: () => void): Promise<App> {
  const metrics = createMetrics({
    destinationLabels: config.destinationLabels, maxDestinationLabels: config.destinationLabelLimit,
    destinationLabelNames: config.destinationLabelNames,
  });
  // The exporter reads its headers from the process environment itself, so that is where
  // the values its warnings may quote come from.
  routeOtelDiagnostics(logger, exporterSecrets(process.env));
  const telemetry = startTelemetry(config, metrics, logger);
  opened.push(() => telemetry.shutdown());
  const mode: ModeSwitch = { tracing: config.tracePropagation };
  const modeController = new ModeController(mode, metrics, logger);
  const unwatch = config.modeFile ? watchModeFile(config.modeFile, modeController, logger) : undefined;
  if (unwatch) opened.push(unwatch);
  modeController.markStarted();
  const sessions = createTracing(config, { telemetry, metrics, logger, mode });
  const upstreamTls = config.upstreams.some((u) => u.tls)
    ? new UpstreamTls({ ca: config.upstreamTlsCa, cert: config.upstreamTlsCert, key: config.upstreamTlsKey, insecure: config.upstreamTlsInsecure })
    : undefined;
  if (upstreamTls && config.upstreamTlsInsecure) {
    logger.warn('UPSTREAM TLS VERIFICATION IS OFF (--upstream-tls-insecure): any certificate and host name are accepted; for tests only');
  }
  const unwatchUpstreamTls = upstreamTls && upstreamTls.paths.length > 0
    ? watchCertificates(upstreamTls.paths, 'upstream TLS', () => upstreamTls.reload(), logger)
    : undefined;
  if (unwatchUpstreamTls) opened.push(unwatchUpstreamTls);
  const connector = new UpstreamConnector({
    upstreams: config.upstreams,
    connectTimeoutMs: config.connectTimeoutMs,
    retryAfterMs: config.upstreamRetryAfterMs,
    ...(upstreamTls ? { tls: () => upstreamTls.options() } : {}),
  });
  const server = new ProxyServer({
    listen: config.listen,
    connector,
    // Started in bypass (the ADR's ENABLE_TRACE_PROPAGATION=false), connections are plain
    // pipes that parse nothing. Once tracing has been on, a connection opened during a
    // runtime bypass still follows frame boundaries, passively, so that it resumes tracing
    // at its next frame when the switch flips back.
    sessionFor: () => (mode.tracing || modeController.switchedAtRuntime ? sessions : undefined),
    metrics,
    logger,
    limits: {
      maxConnections: config.maxConnections,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      opaqueIdleTimeoutMs: config.opaqueIdleTimeoutMs,
      maxFrameHoldBytes: config.maxFrameHoldBytes,
    },
    ...(config.tlsCert && config.tlsKey ? { tls: { cert: config.tlsCert, key: config.tlsKey, clientCa: config.tlsClientCa } } : {}),
  });
  opened.push(() => server.close());
  checkAbort();
  let draining = false;
  const httpLimits = { maxConnections: config.httpMaxConnections, requestTimeoutMs: config.httpRequestTimeoutMs };
  const admin = config.adminListen
    ? await bind('adminListen', config.adminListen, () => startAdminServer({
      listen: config.adminListen!, controller: modeController, limits: httpLimits, logger, ...(config.adminTokenFile ? { tokenFile: config.adminTokenFile } : {}),
    }))
    : undefined;
  if (admin) opened.push(() => admin.close());
  if (admin && !isLoopback(config.adminListen!.host) && !config.adminTokenFile) {
    logger.warn({ admin: config.adminListen!.host }, 'the admin API listens beyond loopback without --admin-token-file: '
      + 'anyone who can reach it can switch tracing off (docs/SECURITY.md)');
  }
  checkAbort();
  let http: HttpServerHandle | undefined;
  if (config.metricsListen) {
    const upstreamReachable = cachedCheck(() => anyUpstreamReachable(config.upstreams, READY_PROBE_TIMEOUT_MS), READY_PROBE_MAX_AGE_MS);
    http = await bind('metricsListen', config.metricsListen, () => startHttpServer({
      host: config.metricsListen!.host,
      port: config.metricsListen!.port,
      metrics,
      logger,
      limits: httpLimits,
      ready: async () => !draining && server.listening && upstreamReachable(),
    }));
    const handle = http;
    opened.push(() => handle.close());
  }
  checkAbort();
  // Start-up's garbage collected before the first client, not in its first seconds (gcTuning.ts).
  collectGarbageNow();
  const proxyAddress = await bind('listen', config.listen, () => server.listen());
  checkAbort();
  logger.info({
    listen: `${proxyAddress.host}:${proxyAddress.port}`,
    tls: config.tlsCert ? (config.tlsClientCa ? 'mutual' : 'on') : 'off',
    upstreams: config.upstreams.map((u) => u.label),
    metrics: http ? `${config.metricsListen!.host}:${http.port}` : 'off',
    admin: admin ? `${config.adminListen!.host}:${admin.port}` : 'off',
    mode: mode.tracing ? 'tracing' : 'bypass',
    outcomeExport: config.outcomeExport && telemetry.keep !== undefined,
  }, 'amqp-trace-proxy listening');

  const closeRest = async (): Promise<void> => {
    unwatch?.();
    unwatchUpstreamTls?.();
    await admin?.close();
    await telemetry.shutdown().catch((err: Error) => logger.warn({ err: err.message }, 'span flush failed'));
    await http?.close();
  };
  return {
    proxyAddress,
    metricsAddress: http && config.metricsListen ? { host: config.metricsListen.host, port: http.port } : undefined,
    adminAddress: admin && config.adminListen ? { host: config.adminListen.host, port: admin.port } : undefined,
    modeController,
    metrics,
    mode,
    telemetry,
    server,
    async drain() {
      draining = true;
      await drain(server, { drainMs: config.drainTimeoutMs, closeGraceMs: CLOSE_GRACE_MS }, logger);
      await server.close();
      await closeRest();
    },
    async stop() {
      draining = true;
      await server.close();
      await closeRest();
    },
  };
}
