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

import { applyLimits, guarded, serverOptions } from '../http/limits';

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
  /** DEFAULT_WEBHOOK_LIMITS where absent. */
  readonly limits?: Partial<WebhookLimits>;
}

export interface WebhookLimits {
  /** A larger review is refused with 413 (by its Content-Length, unread, when it states one). */
  readonly maxBodyBytes: number;
  /** Reviews read and answered at once; the next ones wait, their bodies unread, until one ends. */
  readonly maxConcurrentReviews: number;
  readonly maxConnections: number;
  readonly requestTimeoutMs: number;
}

/**
 * 1 MiB: a review of a pod CREATE carries the pod and about a kilobyte more; a pod's
 * annotations may hold 256 KiB in all and real pod specs are tens of kilobytes, so a
 * review over 1 MiB is not a pod anyone runs. A refused review skips injection
 * (failurePolicy: Ignore) and is logged; it never blocks the pod. Holding and parsing a
 * review takes about five times its size, so 4 at once stay near 20 MiB of the webhook's
 * 128 MiB. 10 s: the API server waits timeoutSeconds (5 in k8s/webhook) and then gives up.
 */
export const DEFAULT_WEBHOOK_LIMITS: WebhookLimits = {
  maxBodyBytes: 1024 * 1024,
  maxConcurrentReviews: 4,
  maxConnections: 64,
  requestTimeoutMs: 10_000,
};

export type WebhookServer = HttpServer | HttpsServer;

export const ROUTES: Readonly<Record<string, InjectionScope>> = { '/mutate': 'namespace', '/mutate/opt-in': 'pod' };

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  const limits = { ...DEFAULT_WEBHOOK_LIMITS, ...options.limits };
  const slots = new Slots(limits.maxConcurrentReviews);
  const handler = guarded((req, res) => handle(req, res, options, limits, slots), (err) => {
    options.log.error({ err: errorName(err) }, 'webhook request failed');
  });
  const http = serverOptions({ maxConnections: limits.maxConnections, requestTimeoutMs: limits.requestTimeoutMs });
  const server = options.tls ? createHttpsServer({ ...http, cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(http, handler);
  applyLimits(server, { maxConnections: limits.maxConnections, requestTimeoutMs: limits.requestTimeoutMs });
  return server;
}

/** A counting semaphore: at most `max` holders; the others wait in arrival order. */
class Slots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  /** Resolves with the release function once a slot is free. */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.held++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.held--;
          this.waiting.shift()?.();
        });
      };
      if (this.held < this.max) grant();
      else this.waiting.push(grant);
    });
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, options: WebhookServerOptions, limits: WebhookLimits, slots: Slots): Promise<void> {
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

  const max = limits.maxBodyBytes;
  const tooLarge: Refusal = { code: 'WEBHOOK_BODY_TOO_LARGE', message: `request body over ${max} bytes` };
  if (Number(req.headers['content-length'] ?? 0) > max) return refuse(res, options.log, tooLarge, 413);
  const release = await slots.acquire();
  try {
    // A request that timed out or hung up while it waited has nothing left to answer.
    if (req.destroyed) return;
    const body = await readBody(req, max);
    if (body === undefined) return refuse(res, options.log, tooLarge, 413);
    review(res, options, scope, body);
  } finally {
    release();
  }
}

function review(res: ServerResponse, options: WebhookServerOptions, scope: InjectionScope, body: string): void {
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

/**
 * Resolves undefined once the body passes `max` bytes, and stops reading: the 413 closes the
 * connection, so the rest is never read. A request that ends early resolves undefined too.
 */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      chunks.length = 0;
      req.off('data', onData);
      req.pause();
      resolve(undefined);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('close', () => resolve(undefined));
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
