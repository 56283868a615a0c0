import { Socket, connect as netConnect } from 'node:net';
import { ConnectionOptions as TlsOptions, connect as tlsConnect } from 'node:tls';
import type { Upstream } from '../config/upstream';

export interface ConnectFailure {
  readonly upstream: Upstream;
  readonly code: string;
}

export interface UpstreamConnectorOptions {
  readonly upstreams: readonly Upstream[];
  readonly connectTimeoutMs: number;
  /** A node that failed is tried after the healthy ones until this much time has passed. */
  readonly retryAfterMs: number;
  /** Extra TLS settings for amqps:// upstreams (CA, client certificate, verification). */
  readonly tls?: () => TlsOptions;
  readonly now?: () => number;
}

/**
 * Opens one broker connection per client connection. Upstreams are tried in the configured
 * order, except that a node which failed recently goes to the back of the line until
 * `retryAfterMs` has passed; a client is connected to the first that answers, or to none.
 */
export class UpstreamConnector {
  private readonly failedAt = new Map<Upstream, number>();
  private readonly now: () => number;

  constructor(private readonly options: UpstreamConnectorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The order in which a new connection tries the upstreams. */
  order(): Upstream[] {
    const t = this.now();
    const recentlyFailed = (u: Upstream): boolean => {
      const at = this.failedAt.get(u);
      return at !== undefined && t - at < this.options.retryAfterMs;
    };
    return [
      ...this.options.upstreams.filter((u) => !recentlyFailed(u)),
      ...this.options.upstreams.filter(recentlyFailed),
    ];
  }

  async connect(onFailure: (failure: ConnectFailure) => void): Promise<{ socket: Socket; upstream: Upstream } | undefined> {
    for (const upstream of this.order()) {
      try {
        const socket = await this.connectOne(upstream);
        this.failedAt.delete(upstream);
        return { socket, upstream };
      } catch (err) {
        this.failedAt.set(upstream, this.now());
        onFailure({ upstream, code: errorCode(err) });
      }
    }
    return undefined;
  }

  private connectOne(upstream: Upstream): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket: Socket = upstream.tls
        ? tlsConnect({ host: upstream.host, port: upstream.port, servername: sniName(upstream.host), ...this.options.tls?.() })
        : netConnect({ host: upstream.host, port: upstream.port });
      const ready = upstream.tls ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
      }, this.options.connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }
}

/** SNI carries host names only, never IP addresses (RFC 6066 section 3). */
function sniName(host: string): string | undefined {
  return /^[\d.]+$/.test(host) || host.includes(':') ? undefined : host;
}

function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : 'unknown';
}

/** True when at least one upstream accepts a TCP connection within `timeoutMs` (for /readyz). */
export async function anyUpstreamReachable(upstreams: readonly Upstream[], timeoutMs: number): Promise<boolean> {
  for (const u of upstreams) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: u.host, port: u.port });
      const done = (result: boolean): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
    if (ok) return true;
  }
  return false;
}

/**
 * `check` (anyUpstreamReachable) for /readyz, cheap whatever the probe rate: an answer is
 * reused for `maxAgeMs` after the check that gave it finished, and while a check runs every
 * caller waits for that one. So probes, however many and however often, open at most one
 * broker connection at a time and one per `maxAgeMs`; a change in the broker shows after at
 * most `maxAgeMs` plus one check.
 */
export function cachedCheck(check: () => Promise<boolean>, maxAgeMs: number, now: () => number = () => performance.now()): () => Promise<boolean> {
  let last: { at: number; ok: boolean } | undefined;
  let running: Promise<boolean> | undefined;
  return () => {
    if (last !== undefined && now() - last.at < maxAgeMs) return Promise.resolve(last.ok);
    running ??= check().catch(() => false).then((ok) => {
      last = { at: now(), ok };
      running = undefined;
      return ok;
    });
    return running;
  };
}
