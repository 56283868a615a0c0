import { Server, Socket, createServer } from 'node:net';
import type { HostPort } from '../config/options';
import type { Logger } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import { ConnectionPair } from './connectionPair';
import type { SessionFactory } from './session';
import { UpstreamConnector } from './upstreamConnector';

export interface ProxyServerOptions {
  readonly listen: HostPort;
  readonly connector: UpstreamConnector;
  /** Asked once per new connection: undefined means opaque pass-through for its whole life. */
  readonly sessionFor: () => SessionFactory | undefined;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
}

/**
 * Accepts client connections and pairs each with its own broker connection. The client is
 * not read until the broker connection is up, so nothing it sends early is lost; if no
 * upstream answers, the client is closed at once so that reconnecting clients retry.
 */
export class ProxyServer {
  private readonly server: Server;
  private readonly pairs = new Set<ConnectionPair>();
  private readonly pending = new Set<Socket>();
  private nextId = 1;

  constructor(private readonly options: ProxyServerOptions) {
    this.server = createServer({ pauseOnConnect: true, noDelay: true, keepAlive: true }, (socket) => {
      void this.accept(socket);
    });
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

  /** Stops accepting; existing connections keep working. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }

  /** Stops accepting and drops every connection at once. */
  async close(): Promise<void> {
    const stopped = this.stopAccepting();
    for (const socket of this.pending) socket.destroy();
    for (const pair of this.pairs) pair.destroy();
    await stopped;
  }

  private async accept(client: Socket): Promise<void> {
    const { metrics, logger, connector } = this.options;
    const id = this.nextId++;
    metrics.connectionAccepted();
    this.pending.add(client);
    client.on('error', () => undefined);
    const connected = await connector.connect((failure) => {
      metrics.upstreamConnectFailed(failure.upstream.label);
      logger.warn({ conn: id, upstream: failure.upstream.label, code: failure.code }, 'upstream connect failed');
    });
    this.pending.delete(client);
    if (connected === undefined || client.destroyed) {
      if (connected === undefined) {
        metrics.connectionRefused('upstream_unavailable');
        logger.error({ conn: id, upstreams: connector.order().map((u) => u.label) }, 'no upstream reachable; closing client connection');
      }
      connected?.socket.destroy();
      client.destroy();
      metrics.connectionClosed();
      return;
    }
    const { socket: upstream, upstream: upstreamInfo } = connected;
    upstream.setNoDelay(true);
    upstream.setKeepAlive(true);
    const factory = this.options.sessionFor();
    let pair: ConnectionPair | undefined;
    const session = factory?.({ id, upstream: upstreamInfo, control: { setFrameMax: (n) => pair?.setFrameMax(n) } });
    pair = new ConnectionPair({
      id, client, upstream, upstreamInfo, session, metrics, logger,
      onClosed: (p) => {
        this.pairs.delete(p);
        metrics.connectionClosed();
        logger.debug({ conn: id }, 'connection closed');
      },
    });
    this.pairs.add(pair);
    logger.debug({ conn: id, upstream: upstreamInfo.label, mode: session ? 'tracing' : 'opaque' }, 'connection open');
    client.resume();
  }
}
