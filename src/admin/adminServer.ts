import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import type { HostPort } from '../config/options';
import { HttpLimits, applyLimits, guarded, serverOptions } from '../http/limits';
import type { Logger } from '../log/logger';
import { ModeController, parseMode } from './modeSwitch';

const MAX_BODY = 64;

export interface AdminServerOptions {
  readonly listen: HostPort;
  readonly controller: ModeController;
  readonly limits: HttpLimits;
  readonly logger: Logger;
}

/**
 * The admin API, on its own listener (localhost by default, never the metrics port):
 *   GET  /mode            → {"mode":"tracing"}
 *   PUT  /mode  "bypass"  → switches (POST works too; the body or ?mode= carries the value)
 */
export async function startAdminServer(opts: AdminServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const { listen, controller, logger } = opts;
  const server = createServer(serverOptions(opts.limits), guarded((req, res) => handle(req, res, controller), (err) => {
    logger.warn({ err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'admin request failed');
  }));
  applyLimits(server, opts.limits);
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

async function handle(req: IncomingMessage, res: ServerResponse, controller: ModeController): Promise<void> {
  const url = target(req);
  if (url === undefined) return reply(res, 400, { error: 'the request target must be a path, e.g. /mode' });
  if (url.pathname !== '/mode') return reply(res, 404, { error: 'not found; use /mode' });
  if (req.method === 'GET' || req.method === 'HEAD') return reply(res, 200, { mode: controller.mode });
  if (req.method !== 'PUT' && req.method !== 'POST') return reply(res, 405, { error: 'use GET, PUT or POST' });
  const body = url.searchParams.get('mode') ?? (await readBody(req));
  const mode = body === undefined ? undefined : parseMode(body);
  if (mode === undefined) return reply(res, 400, { error: 'the body must be "tracing" or "bypass"' });
  controller.set(mode, 'admin api');
  reply(res, 200, { mode: controller.mode });
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

function reply(res: ServerResponse, status: number, body: object): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
