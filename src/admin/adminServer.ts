import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import type { HostPort } from '../config/options';
import { ModeController, parseMode } from './modeSwitch';

const MAX_BODY = 64;

/**
 * The admin API, on its own listener (localhost by default, never the metrics port):
 *   GET  /mode            → {"mode":"tracing"}
 *   PUT  /mode  "bypass"  → switches (POST works too; the body or ?mode= carries the value)
 */
export async function startAdminServer(listen: HostPort, controller: ModeController): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void handle(req, res, controller);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
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

async function handle(req: IncomingMessage, res: ServerResponse, controller: ModeController): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
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
  });
}

function reply(res: ServerResponse, status: number, body: object): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
