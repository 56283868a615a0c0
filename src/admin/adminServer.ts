import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { HostPort } from '../config/options';
import { HttpLimits, createLimitedHttpServer, guarded } from '../http/limits';
import { type Logger, RateLimitedLog } from '../log/logger';
import { ModeController, parseMode } from './modeSwitch';
import { TokenFile } from './tokenFile';

const MAX_BODY = 64;

export interface AdminServerOptions {
  readonly listen: HostPort;
  readonly controller: ModeController;
  readonly limits: HttpLimits;
  readonly logger: Logger;
  /** When set, every request must carry `Authorization: Bearer <the file's content>`. */
  readonly tokenFile?: string;
}

/**
 * The admin API, on its own listener (localhost by default, never the metrics port):
 *   GET  /mode            → {"mode":"tracing"}
 *   PUT  /mode  "bypass"  → switches (POST works too; the body or ?mode= carries the value)
 *
 * A web page can make a browser send requests here: a form or an <img> (a "simple"
 * cross-origin request, sent without asking), or any request once its own host name
 * resolves to 127.0.0.1 (DNS rebinding). So a request that carries an Origin header, or a
 * Host that is not an IP address, localhost or the listener's own host, is refused; and a
 * switch needs `Content-Type: application/json`, which a page can only send after a CORS
 * preflight that is never answered, or the token when one is configured. Every switch is
 * logged with the peer's address and port.
 */
export async function startAdminServer(opts: AdminServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const { listen, logger } = opts;
  const gate: Gate = {
    listenHost: listen.host,
    token: opts.tokenFile === undefined ? undefined : new TokenFile(opts.tokenFile),
    refusals: new RateLimitedLog(logger, REFUSAL_LOG_INTERVAL_MS),
  };
  const server = createLimitedHttpServer(opts.limits, guarded((req, res) => handle(req, res, opts.controller, gate), (err) => {
    logger.warn({ err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'admin request failed');
  }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.warn({ err: err.message }, 'admin HTTP server error'));
  const address = server.address();
  const port = address !== null && typeof address !== 'string' ? address.port : listen.port;
  return {
    port,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The request's path and query; undefined when the request target is not a path (`//[`, `*`, an absolute URL). */
function target(req: IncomingMessage): URL | undefined {
  const raw = req.url ?? '';
  if (!raw.startsWith('/') || raw.startsWith('//')) return undefined;
  try {
    return new URL(raw, 'http://admin');
  } catch {
    return undefined;
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, controller: ModeController, gate: Gate): Promise<void> {
  const refusal = await refuse(req, gate);
  if (refusal !== undefined) {
    // Who is knocking, and why they were turned away; never what they sent as a token.
    gate.refusals.warn(refusal.reason, { peer: peerOf(req), reason: refusal.reason, status: refusal.status }, 'admin request refused');
    return reply(res, refusal.status, { error: refusal.error }, refusal.headers);
  }
  const url = target(req);
  if (url === undefined) return reply(res, 400, { error: 'the request target must be a path, e.g. /mode' });
  if (url.pathname !== '/mode') return reply(res, 404, { error: 'not found; use /mode' });
  if (req.method === 'GET' || req.method === 'HEAD') return reply(res, 200, { mode: controller.mode });
  if (req.method !== 'PUT' && req.method !== 'POST') return reply(res, 405, { error: 'use GET, PUT or POST' });
  if (gate.token === undefined && !isJson(req)) {
    return reply(res, 415, { error: 'a mode switch needs Content-Type: application/json (or the token of --admin-token-file)' });
  }
  const body = url.searchParams.get('mode') ?? modeOfBody(await readBody(req));
  const mode = body === undefined ? undefined : parseMode(body);
  if (mode === undefined) return reply(res, 400, { error: 'the body must be "tracing" or "bypass"' });
  controller.set(mode, 'admin api', peerOf(req));
  reply(res, 200, { mode: controller.mode });
}

/** Refused requests are logged at most once a second per reason, with how many were not. */
const REFUSAL_LOG_INTERVAL_MS = 1000;

/** What a request must get past, made once per listener. */
interface Gate {
  readonly listenHost: string;
  readonly token: TokenFile | undefined;
  readonly refusals: RateLimitedLog;
}

interface Refusal {
  readonly status: number;
  /** For the log: origin, no_host, host, token. */
  readonly reason: string;
  readonly error: string;
  readonly headers?: Record<string, string>;
}

/** Why a request is refused before it is read at all, or undefined. */
async function refuse(req: IncomingMessage, gate: Gate): Promise<Refusal | undefined> {
  if (req.headers.origin !== undefined) {
    return { status: 403, reason: 'origin', error: 'requests from web pages (with an Origin header) are refused' };
  }
  const host = req.headers.host;
  // HTTP/1.0 lets a client leave Host out; the DNS-rebinding check below needs it, so it is required.
  if (host === undefined) return { status: 400, reason: 'no_host', error: 'a Host header is required' };
  if (!ownHost(host, gate.listenHost)) {
    return { status: 403, reason: 'host', error: 'the Host header must be an IP address, localhost or the listener\'s own host' };
  }
  if (gate.token !== undefined && !(await gate.token.matches(req.headers.authorization))) {
    return { status: 401, reason: 'token', error: 'a bearer token is required (--admin-token-file)', headers: { 'WWW-Authenticate': 'Bearer' } };
  }
  return undefined;
}

/**
 * A Host that names this listener without a name someone else controls: an IP address
 * (a rebinding page's Host is its own domain name), localhost, or the host the listener
 * was configured with. The port is not compared: port forwarding changes it.
 */
function ownHost(header: string, listenHost: string): boolean {
  const name = (/^\[([^\]]*)\](?::\d*)?$/.exec(header)?.[1] ?? header.replace(/:\d*$/, '')).toLowerCase();
  return isIP(name) !== 0 || name === 'localhost' || name === listenHost.toLowerCase();
}

function isJson(req: IncomingMessage): boolean {
  return /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}

/** `"bypass"`, `{"mode":"bypass"}` or plain `bypass`. */
function modeOfBody(body: string | undefined): string | undefined {
  if (body === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && value !== null && typeof (value as { mode?: unknown }).mode === 'string') return (value as { mode: string }).mode;
  } catch { /* not JSON: the text itself */ }
  return body;
}

function peerOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  return remoteAddress?.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY) {
        resolve(undefined);
        req.destroy();
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined));
  });
}

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
