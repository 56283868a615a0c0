/**
 * The webhook's HTTP(S) listener.
 *
 *   POST /mutate          pods from namespaces labelled amqp-trace-proxy.io/inject=enabled
 *   POST /mutate/opt-in   pods from other namespaces that opt in themselves
 *   GET  /healthz         200 "ok"
 *
 * The API server only talks HTTPS to webhooks; plain HTTP (no certificate given) is for tests
 * and local runs. Certificates are re-read periodically and swapped in without a restart, so a
 * cert-manager renewal (a new Secret projected into the volume) needs no rollout.
 */
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';

import type { InjectionScope } from './inject';
import { reviewAdmission, type Refusal } from './mutate';
import type { InjectionSettings } from './sidecar';

/** The subset of pino the webhook uses; tests pass a recorder. */
export interface WebhookLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface WebhookServerOptions {
  readonly settings: InjectionSettings;
  readonly log: WebhookLog;
  readonly tls?: TlsMaterial;
  /** Admission requests carry the whole pod (and oldObject on updates); 3 MiB objects are the etcd limit. */
  readonly maxBodyBytes?: number;
}

export type WebhookServer = HttpServer | HttpsServer;

export const ROUTES: Readonly<Record<string, InjectionScope>> = { '/mutate': 'namespace', '/mutate/opt-in': 'pod' };

const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, options).catch((err: unknown) => {
      options.log.error({ err: errorName(err) }, 'webhook request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'WEBHOOK_INTERNAL', message: 'internal error' } });
      else res.destroy();
    });
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  // The API server gives up after the webhook's timeoutSeconds (max 30 s) anyway.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, options: WebhookServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  if (path === '/healthz') {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('ok\n');
    return;
  }
  const scope = Object.prototype.hasOwnProperty.call(ROUTES, path) ? ROUTES[path] : undefined;
  if (scope === undefined) return sendJson(res, 404, { error: { code: 'WEBHOOK_NOT_FOUND', message: `no route ${path}` } });
  if (req.method !== 'POST') return methodNotAllowed(res, 'POST');

  const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const body = await readBody(req, max);
  if (body === undefined) {
    return refuse(res, options.log, { code: 'WEBHOOK_BODY_TOO_LARGE', message: `request body over ${max} bytes` }, 413);
  }
  const result = reviewAdmission(body, scope, options.settings);
  if (!result.ok) return refuse(res, options.log, result.refusal, 400);
  const s = result.summary;
  options.log.info(
    { uid: s.uid, pod: s.pod, scope, outcome: s.outcome, rewritten: s.rewritten, upstreams: s.upstreams, warnings: s.warnings },
    'admission reviewed',
  );
  sendJson(res, 200, result.review);
}

function refuse(res: ServerResponse, log: WebhookLog, refusal: Refusal, status: number): void {
  log.warn({ code: refusal.code }, `admission request refused: ${refusal.message}`);
  sendJson(res, status, { error: refusal }, status === 413);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  sendJson(res, 405, { error: { code: 'WEBHOOK_METHOD_NOT_ALLOWED', message: `use ${allow}` } });
}

function sendJson(res: ServerResponse, status: number, body: unknown, closeConnection = false): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
  if (closeConnection) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

/** Resolves undefined once the body passes `max` bytes; the rest is read and dropped. */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

export function listen(server: WebhookServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting, lets in-flight reviews finish for `graceMs`, then cuts what is left. */
export function close(server: WebhookServer, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Re-reads the certificate and key every `intervalMs` and swaps them in when they change.
 * Polling, not fs.watch: Kubernetes updates Secret volumes by swapping a symlink, which
 * watchers on the file paths do not reliably see. A bad pair is logged and the old one kept.
 */
export function reloadTlsOnChange(
  server: HttpsServer,
  files: { readonly certFile: string; readonly keyFile: string },
  current: TlsMaterial,
  log: WebhookLog,
  intervalMs = 30_000,
): () => void {
  let loaded = current;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    Promise.all([readFile(files.certFile), readFile(files.keyFile)])
      .then(([cert, key]) => {
        if (cert.equals(loaded.cert) && key.equals(loaded.key)) return;
        createSecureContext({ cert, key });
        server.setSecureContext({ cert, key });
        loaded = { cert, key };
        log.info({ certFile: files.certFile }, 'TLS certificate reloaded');
      })
      .catch((err: unknown) => log.warn({ certFile: files.certFile, err: errorName(err) }, 'TLS certificate reload failed; keeping the current one'))
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function errorName(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
