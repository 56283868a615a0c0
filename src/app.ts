import type { ProxyConfig } from './config/config';
import type { HostPort } from './config/options';
import { Logger } from './log/logger';
import { ProxyMetrics, createMetrics } from './metrics/metrics';
import { HttpServerHandle, startHttpServer } from './metrics/httpServer';
import { drain } from './proxy/drain';
import { ProxyServer } from './proxy/proxyServer';
import { UpstreamTls, watchCertificates } from './proxy/tls';
import { UpstreamConnector, anyUpstreamReachable } from './proxy/upstreamConnector';
import { ModeSwitch, tracingSessions } from './trace/connectionTracer';
import { Continuation } from './trace/continuation';
import { Telemetry, startTelemetry } from './trace/telemetry';
import { startAdminServer } from './admin/adminServer';
import { watchModeFile } from './admin/modeFile';
import { ModeController } from './admin/modeSwitch';

const CLOSE_GRACE_MS = 5000;
const READY_PROBE_TIMEOUT_MS = 1000;

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

/** Wires the proxy from a validated config. main.ts adds only process concerns (signals, exit). */
export async function startApp(config: ProxyConfig, logger: Logger): Promise<App> {
  const metrics = createMetrics({ destinationLabels: config.destinationLabels, maxDestinationLabels: config.destinationLabelLimit });
  const telemetry = startTelemetry(config, metrics, logger);
  const mode: ModeSwitch = { tracing: config.tracePropagation };
  const modeController = new ModeController(mode, metrics, logger);
  const unwatch = config.modeFile ? watchModeFile(config.modeFile, modeController, logger) : undefined;
  modeController.markStarted();
  const sessions = tracingSessions({
    telemetry,
    metrics,
    logger,
    mode,
    continuation: config.continuation ? new Continuation(config.continuationCapacity, metrics) : undefined,
    rewriteOnDelivery: config.rewriteOnDelivery,
    inflightCapacity: config.inflightCapacity,
  });
  const upstreamTls = config.upstreams.some((u) => u.tls)
    ? new UpstreamTls({ ca: config.upstreamTlsCa, cert: config.upstreamTlsCert, key: config.upstreamTlsKey, insecure: config.upstreamTlsInsecure })
    : undefined;
  if (upstreamTls && config.upstreamTlsInsecure) {
    logger.warn('UPSTREAM TLS VERIFICATION IS OFF (--upstream-tls-insecure): any certificate and host name are accepted; for tests only');
  }
  const unwatchUpstreamTls = upstreamTls && upstreamTls.paths.length > 0
    ? watchCertificates(upstreamTls.paths, 'upstream TLS', () => upstreamTls.reload(), logger)
    : undefined;
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
    },
    ...(config.tlsCert && config.tlsKey ? { tls: { cert: config.tlsCert, key: config.tlsKey, clientCa: config.tlsClientCa } } : {}),
  });
  const proxyAddress = await server.listen();
  let draining = false;
  let http: HttpServerHandle | undefined;
  if (config.metricsListen) {
    http = await startHttpServer({
      host: config.metricsListen.host,
      port: config.metricsListen.port,
      metrics,
      logger,
      ready: async () => !draining && server.listening && anyUpstreamReachable(config.upstreams, READY_PROBE_TIMEOUT_MS),
    });
  }
  const admin = config.adminListen ? await startAdminServer(config.adminListen, modeController) : undefined;
  logger.info({
    listen: `${proxyAddress.host}:${proxyAddress.port}`,
    tls: config.tlsCert ? (config.tlsClientCa ? 'mutual' : 'on') : 'off',
    upstreams: config.upstreams.map((u) => u.label),
    metrics: http ? `${config.metricsListen!.host}:${http.port}` : 'off',
    admin: admin ? `${config.adminListen!.host}:${admin.port}` : 'off',
    mode: mode.tracing ? 'tracing' : 'bypass',
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
