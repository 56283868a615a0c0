/**
 * The proxy's HTTP listener: Prometheus scrapes and Kubernetes probes.
 *
 *   GET /metrics  prom-client text exposition
 *   GET /healthz  200 while the process can answer at all
 *   GET /readyz   200 when `ready()` says so, 503 otherwise (also when it throws or hangs)
 *
 * HEAD is answered like GET (RFC 9110 9.3.2); other methods get 405. Extra routes (an admin
 * endpoint, say) are passed in by exact path and handle their own methods.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_HTTP_LIMITS, HttpLimits, createLimitedHttpServer, guarded, hasBody } from '../http/limits';
import type { ProxyMetrics } from './metrics';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpLogger {
  warn(obj: object, msg: string): void;
}

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port; the bound one is returned. */
  port: number;
  metrics: ProxyMetrics;
  ready: () => boolean | Promise<boolean>;
  logger?: HttpLogger;
  /** Extra routes by exact path; they may not replace a built-in one. */
  routes?: Readonly<Record<string, RouteHandler>>;
  /** A readiness check slower than this answers 503 (default 5000 ms). */
  readyTimeoutMs?: number;
  /** Deadlines and the connection cap (src/http/limits.ts); the config's defaults when absent. */
  limits?: HttpLimits;
}

export interface HttpServerHandle {
  readonly port: number;
  close(): Promise<void>;
}

const DEFAULT_READY_TIMEOUT_MS = 5000;
const TEXT = 'text/plain; charset=utf-8';

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Resolves to ready()'s answer; false when it throws, rejects, or outlives `timeoutMs`. */
async function checkReady(ready: () => boolean | Promise<boolean>, timeoutMs: number, logger?: HttpLogger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, 'timeout');
  });
  try {
    const answer = await Promise.race([Promise.resolve().then(ready), timedOut]);
    if (answer === 'timeout') logger?.warn({ timeoutMs }, 'readiness check timed out');
    return answer === true;
  } catch (err) {
    logger?.warn({ err }, 'readiness check threw');
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const { metrics, ready, logger } = opts;
  const readyTimeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;

  const builtIn = new Map<string, (res: ServerResponse) => void | Promise<void>>([
    ['/metrics', async (res) => send(res, 200, metrics.registry.contentType, await metrics.registry.metrics())],
    ['/healthz', (res) => send(res, 200, TEXT, 'ok\n')],
    ['/readyz', async (res) => {
      const ok = await checkReady(ready, readyTimeoutMs, logger);
      send(res, ok ? 200 : 503, TEXT, ok ? 'ready\n' : 'not ready\n');
    }],
  ]);
  const extra = new Map(Object.entries(opts.routes ?? {}));
  for (const path of extra.keys()) {
    if (builtIn.has(path)) throw new Error(`route ${path} is built into the metrics HTTP server and cannot be replaced`);
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = extra.get(path);
    if (route !== undefined) return route(req, res);
    const handler = builtIn.get(path);
    if (handler === undefined) return send(res, 404, TEXT, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, TEXT, 'method not allowed\n');
    }
    // Nothing here reads a body: refused unread, and the connection closed so it is not read either.
    if (hasBody(req)) {
      res.setHeader('Connection', 'close');
      return send(res, 413, TEXT, 'no request body expected\n');
    }
    return handler(res);
  }

  const limits = opts.limits ?? DEFAULT_HTTP_LIMITS;
  const server = createLimitedHttpServer(limits, guarded((req, res) => dispatch(req, res, pathOf(req)), (err, req) => {
    metrics.telemetryError('http_server');
    logger?.warn({ err: errorText(err), path: pathOf(req) }, 'metrics HTTP request failed');
  }));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger?.warn({ err }, 'metrics HTTP server error'));

  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive scrapers would otherwise hold close() open until they time out.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
