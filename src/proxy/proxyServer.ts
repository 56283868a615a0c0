import { Server, Socket, createServer } from 'node:net';
import { Server as TlsServer, TLSSocket, createServer as createTlsServer } from 'node:tls';
import type { HostPort } from '../config/options';
import type { Logger } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import { ConnectionPair } from './connectionPair';
import { ConnectionLimits, DEFAULT_MAX_FRAME_HOLD_BYTES, awaitProtocolHeader } from './limits';
import type { SessionFactory } from './session';
import { ServerTlsFiles, serverContextOptions, watchCertificates } from './tls';
import { UpstreamConnector } from './upstreamConnector';

/** After connection.close 320 for an idle connection, how long the client gets to answer. */
const IDLE_CLOSE_GRACE_MS = 5000;

export interface ProxyServerOptions {
  readonly listen: HostPort;
  readonly connector: UpstreamConnector;
  /** Asked once per new connection: undefined means opaque pass-through for its whole life. */
  readonly sessionFor: () => SessionFactory | undefined;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly limits?: ConnectionLimits;
  /** Clients connect with AMQPS: certificate files, reloaded when they change. */
  readonly tls?: ServerTlsFiles;
}

const NO_LIMITS: ConnectionLimits = { maxConnections: 0, handshakeTimeoutMs: 0, idleTimeoutMs: 0, maxFrameHoldBytes: DEFAULT_MAX_FRAME_HOLD_BYTES };

/**
 * Accepts client connections and pairs each with its own broker connection. A broker
 * connection is opened only once the client has sent the AMQP protocol header, and the
 * client is not read further until that broker connection is up, so nothing it sends early
 * is lost; if no upstream answers, the client is closed at once so that reconnecting
 * clients retry. A client never talks to half a handshake: it gets a working upstream or a
 * closed socket.
 */
export class ProxyServer {
  private readonly server: Server;
  private readonly pairs = new Set<ConnectionPair>();
  /** Every accepted TCP socket until it closes, paired or not (for close()). */
  private readonly sockets = new Set<Socket>();
  private readonly limits: ConnectionLimits;
  private readonly unwatch: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  /** TCP connections open now, from accept to close, pairs or not: what --max-connections bounds. */
  private open = 0;
  private nextId = 1;

  constructor(private readonly options: ProxyServerOptions) {
    this.limits = options.limits ?? NO_LIMITS;
    const { tls, logger, metrics } = options;
    if (tls) {
      const server = createTlsServer({
        ...serverContextOptions(tls),
        requestCert: tls.clientCa !== undefined,
        rejectUnauthorized: true,
        // Node's default is 120 s; a client that never finishes TLS is the same as one that
        // never sends the protocol header.
        ...(this.limits.handshakeTimeoutMs > 0 ? { handshakeTimeout: this.limits.handshakeTimeoutMs } : {}),
      });
      server.on('connection', (raw: Socket) => this.admit(raw));
      server.on('secureConnection', (socket: TLSSocket) => void this.accept(socket));
      server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.connectionRefused('handshake_timeout');
        logger.debug({ code: err.code ?? err.message }, 'client TLS handshake failed');
      });
      this.unwatch = watchCertificates(
        [tls.cert, tls.key, ...(tls.clientCa ? [tls.clientCa] : [])], 'client-side TLS',
        () => (server as TlsServer).setSecureContext(serverContextOptions(tls)), logger,
      );
      this.server = server;
    } else {
      this.server = createServer({ pauseOnConnect: true, noDelay: true, keepAlive: true }, (socket) => {
        if (this.admit(socket)) void this.accept(socket);
      });
    }
  }

  listen(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        if (address === null || typeof address === 'string') return reject(new Error('no listening address'));
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  get connections(): ReadonlySet<ConnectionPair> {
    return this.pairs;
  }

  /** TCP connections open now, including those still in TLS or protocol-header phase. */
  get openConnections(): number {
    return this.open;
  }

  /**
   * Stops accepting; existing connections keep working. Resolves as soon as the listening
   * socket is closed: net.Server's own close callback waits for every connection to end,
   * which is what a drain must not wait for here.
   */
  stopAccepting(): Promise<void> {
    if (this.server.listening && this.closing === undefined) {
      this.closing = new Promise((resolve) => this.server.close(() => resolve()));
    }
    this.unwatch?.();
    return Promise.resolve();
  }

  /** Stops accepting and drops every connection at once. */
  async close(): Promise<void> {
    await this.stopAccepting();
    for (const pair of this.pairs) pair.destroy();
    for (const socket of this.sockets) socket.destroy();
    await this.closing;
  }

  /** Counts the TCP connection and applies --max-connections; false if it was refused. */
  private admit(socket: Socket): boolean {
    const { metrics, logger } = this.options;
    if (this.limits.maxConnections > 0 && this.open >= this.limits.maxConnections) {
      metrics.connectionRefused('max_connections');
      logger.warn({ open: this.open, max: this.limits.maxConnections }, 'connection limit reached; closing new connection');
      socket.destroy();
      return false;
    }
    this.open++;
    this.sockets.add(socket);
    metrics.connectionAccepted();
    socket.once('close', () => {
      this.open--;
      this.sockets.delete(socket);
      metrics.connectionClosed();
    });
    return true;
  }

  private async accept(client: Socket): Promise<void> {
    const { metrics, logger, connector } = this.options;
    if (client.destroyed) return;
    const id = this.nextId++;
    client.on('error', () => undefined);
    const acceptedAt = performance.now();
    if (!(await awaitProtocolHeader(client, this.limits.handshakeTimeoutMs))) {
      if (!client.destroyed) {
        metrics.connectionRefused('handshake_timeout');
        logger.debug({ conn: id, timeoutMs: this.limits.handshakeTimeoutMs }, 'no protocol header in time; closing');
        client.destroy();
      }
      return;
    }
    const headerAt = performance.now();
    const connected = await connector.connect((failure) => {
      metrics.upstreamConnectFailed(failure.upstream.label);
      logger.warn({ conn: id, upstream: failure.upstream.label, code: failure.code }, 'upstream connect failed');
    });
    if (connected === undefined || client.destroyed) {
      if (connected === undefined) {
        metrics.connectionRefused('upstream_unavailable');
        logger.error({ conn: id, upstreams: connector.order().map((u) => u.label) }, 'no upstream reachable; closing client connection');
      }
      connected?.socket.destroy();
      client.destroy();
      return;
    }
    const { socket: upstream, upstream: upstreamInfo } = connected;
    upstream.setNoDelay(true);
    upstream.setKeepAlive(true);
    const factory = this.options.sessionFor();
    let pair: ConnectionPair | undefined;
    let opened = false;
    // The time the proxy spent connecting upstream is its own, not the client's: the
    // handshake deadline counts what was left of it when the protocol header arrived.
    const handshake = factory ? this.handshakeDeadline(id, this.limits.handshakeTimeoutMs - (headerAt - acceptedAt), () => pair) : undefined;
    const control = { get frameMax() { return pair?.frameMax ?? 0; } };
    const session = factory?.({ id, upstream: upstreamInfo, control });
    pair = new ConnectionPair({
      id, client, upstream, upstreamInfo, session, metrics, logger,
      maxFrameHoldBytes: this.limits.maxFrameHoldBytes,
      // An opaque connection's handshake is no longer one the proxy can follow (AMQP 1.0 on
      // RabbitMQ 4, say): the broker's own handshake timeout bounds it from here, and the
      // opaque idle deadline a peer that goes silent, which a deadline on the handshake's end
      // would cut even when it is live. After open-ok, the client is the broker's.
      onHandshakeEnd: (how) => {
        handshake?.stop();
        if (how === 'opened') opened = true;
        else if (!opened) this.closeOpaqueWhenIdle(pair!, id);
      },
      onClosed: (p) => {
        handshake?.stop();
        this.pairs.delete(p);
        logger.debug({ conn: id }, 'connection closed');
      },
    });
    this.pairs.add(pair);
    if (this.limits.idleTimeoutMs > 0) this.closeWhenIdle(pair, id);
    logger.debug({ conn: id, upstream: upstreamInfo.label, mode: session ? 'tracing' : 'opaque' }, 'connection open');
    client.resume();
  }

  /**
   * Closes a connection whose AMQP handshake (start-ok, tune-ok, open) has not reached
   * connection.open-ok within `remainingMs`: a client that stalls there would otherwise hold
   * a client socket, a broker connection and a session for as long as the broker lets it.
   * Both sockets are destroyed, as a broker does on its own handshake timeout.
   */
  private handshakeDeadline(id: number, remainingMs: number, pairOf: () => ConnectionPair | undefined): { stop(): void } | undefined {
    if (this.limits.handshakeTimeoutMs <= 0) return undefined;
    const timer = setTimeout(() => {
      this.options.metrics.connectionRefused('handshake_timeout');
      this.options.logger.info({ conn: id, timeoutMs: this.limits.handshakeTimeoutMs }, 'AMQP handshake not finished in time (no connection.open-ok); closing');
      pairOf()?.destroy();
    }, Math.max(0, remainingMs));
    timer.unref();
    return { stop: () => clearTimeout(timer) };
  }

  private closeOpaqueWhenIdle(pair: ConnectionPair, id: number): void {
    const ms = this.limits.opaqueIdleTimeoutMs ?? 0;
    if (ms <= 0) return;
    // --idle-timeout-ms already watches the socket: the shorter of the two applies.
    if (this.limits.idleTimeoutMs > 0) pair.client.setTimeout(Math.min(ms, this.limits.idleTimeoutMs));
    else this.closeWhenIdle(pair, id, ms);
  }

  /**
   * The client socket sees both directions (it reads what the client sends and writes what
   * the broker sends), so its inactivity timer is the connection's.
   */
  private closeWhenIdle(pair: ConnectionPair, id: number, idleMs = this.limits.idleTimeoutMs): void {
    const { client } = pair;
    client.setTimeout(idleMs);
    client.once('timeout', () => {
      this.options.metrics.connectionRefused('idle_timeout');
      this.options.logger.info({ conn: id, idleMs: client.timeout ?? idleMs }, 'idle connection closed');
      client.setTimeout(0);
      pair.closeForced('idle timeout', IDLE_CLOSE_GRACE_MS);
    });
  }
}
