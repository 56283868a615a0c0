/**
 * What every HTTP listener of the proxy (metrics, admin, webhook) holds to, whoever connects:
 * a request arrives whole within a deadline, an idle connection is closed, the number of open
 * connections is capped, headers are small, and a handler that throws or rejects answers 500
 * instead of taking the process down. docs/SECURITY.md states the defaults and why.
 *
 * Node's own defaults are for servers behind a load balancer: headers may take 60 s, a
 * request 300 s, and the deadlines are checked every 30 s, so one slow-drip client held a
 * socket for minutes; nothing capped connections, so idle sockets could use up the process's
 * file descriptors and lock AMQP clients out.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpLimits {
  /** Connections open at once; more are closed at accept. */
  readonly maxConnections: number;
  /** Headers and body must have arrived within this time; an idle connection is closed after it too. */
  readonly requestTimeoutMs: number;
}

/**
 * 64 connections: a Prometheus or two, the kubelet's probes and an operator's curl need a
 * handful; 64 on each of the two listeners keeps them far from a 1024 file descriptor limit.
 * 5 s: a scrape request is a few hundred bytes, sent at once.
 */
export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxConnections: 64, requestTimeoutMs: 5000 };

/** A request line and its headers; Node's default is 16 KiB, a scrape or a probe sends a few hundred bytes. */
export const MAX_HEADER_BYTES = 8 * 1024;

/** Idle keep-alive connections are closed after this (Node's default), or the request timeout when that is shorter. */
const KEEP_ALIVE_MS = 5000;

/**
 * How often Node looks for requests past their deadline: the deadlines are this late at most.
 * Every listener wakes the process this often even with no connection open: at 250 ms the
 * metrics and admin listeners together woke an idle sidecar 8 times a second (issue 24,
 * docs/PERFORMANCE.md). A slow client is now cut within the deadline plus 1 s.
 */
export const CHECK_INTERVAL_MS = 1000;

/** Node's longest timer: an interval this long never fires in practice (24.8 days). */
const NEVER_MS = 2_147_483_647;

/**
 * Options for http.createServer / https.createServer that set the deadlines and the header
 * size; Node checks the deadlines every CHECK_INTERVAL_MS from listen on, with connections or
 * without (the webhook's HTTPS listener).
 */
export function serverOptions(limits: HttpLimits): ServerOptions {
  return {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: limits.requestTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: Math.min(KEEP_ALIVE_MS, limits.requestTimeoutMs),
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, limits.requestTimeoutMs),
  };
}

/**
 * The limits that are properties of a created server: the connection cap, and an inactivity
 * timeout for sockets that send nothing at all (the request deadlines start with a request).
 */
export function applyLimits(server: Server, limits: HttpLimits): void {
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.requestTimeoutMs, (socket) => socket.destroy());
}

/**
 * A plain HTTP server with every limit above, whose request deadlines are kept by a timer
 * per open connection (PerConnectionDeadline) instead of Node's check, so a listener nobody
 * uses never wakes the process: on the sidecar's metrics and admin listeners Node's check was
 * the idle proxy's last wake-up, once a second, after the event-loop monitor rested (issue
 * 24, docs/PERFORMANCE.md). Plain HTTP only: on an HTTPS server the request's socket is not
 * the accepted one.
 */
export function createLimitedHttpServer(limits: HttpLimits, handler: RequestListener): Server {
  const server = createServer({ ...serverOptions(limits), connectionsCheckingInterval: NEVER_MS }, handler);
  applyLimits(server, limits);
  keepDeadlinesPerConnection(server, limits.requestTimeoutMs);
  return server;
}

/**
 * Each request must have arrived whole (headers and body) within `ms` of the connection's
 * start or of the previous response's end; otherwise the connection is closed. A request that
 * has arrived whole is not cut while it is answered. One timer per open connection.
 */
class PerConnectionDeadline {
  request: IncomingMessage | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly socket: Socket, private readonly ms: number) {
    this.arm();
  }

  /** The next request's deadline starts now. */
  arm(): void {
    this.clear();
    this.request = undefined;
    this.timer = setTimeout(() => this.expire(), this.ms);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expire(): void {
    this.timer = undefined;
    if (this.request?.complete) return;
    this.socket.destroy();
  }
}

function keepDeadlinesPerConnection(server: Server, ms: number): void {
  const open = new WeakMap<Socket, PerConnectionDeadline>();
  server.on('connection', (socket: Socket) => {
    const deadline = new PerConnectionDeadline(socket, ms);
    open.set(socket, deadline);
    socket.once('close', () => deadline.clear());
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const deadline = open.get(req.socket);
    if (deadline === undefined) return;
    deadline.request = req;
    res.once('finish', () => deadline.arm());
  });
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * A request handler that cannot throw into Node: a synchronous throw and a rejection both
 * end in `onError` and a 500 (or a cut connection when the headers are already out).
 */
export function guarded(handler: Handler, onError: (err: unknown, req: IncomingMessage) => void): Handler {
  return (req, res) => {
    const fail = (err: unknown): void => {
      try {
        onError(err, req);
      } finally {
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
          res.end('internal error\n');
        } else {
          res.destroy();
        }
      }
    };
    try {
      Promise.resolve(handler(req, res)).catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

/** Whether a request carries a body (a length above zero, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
