import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Agent, request } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { createMetrics, type ProxyMetrics } from '../../../src/metrics/metrics';
import { startHttpServer, type HttpServerHandle, type HttpServerOptions } from '../../../src/metrics/httpServer';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function warnings() {
  const seen: { obj: object; msg: string }[] = [];
  return { seen, logger: { warn: (obj: object, msg: string) => seen.push({ obj, msg }) } };
}

async function withServer(
  overrides: Partial<HttpServerOptions>,
  body: (server: HttpServerHandle, metrics: ProxyMetrics) => Promise<void>,
): Promise<void> {
  const metrics = overrides.metrics ?? createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, ready: () => true, ...overrides, metrics });
  try {
    await body(server, metrics);
  } finally {
    await server.close();
  }
}

test('port 0 binds a free port and reports it', async () => {
  await withServer({}, async (server) => {
    assert.ok(server.port > 0);
    assert.is((await call(server.port, '/healthz')).status, 200);
  });
});

test('/healthz answers 200 ok even when not ready', async () => {
  await withServer({ ready: () => false }, async (server) => {
    const reply = await call(server.port, '/healthz');
    assert.is(reply.status, 200);
    assert.is(reply.body, 'ok\n');
  });
});

test('/readyz follows ready(), sync or async, and changes with it', async () => {
  let up = false;
  await withServer({ ready: async () => up }, async (server) => {
    assert.is((await call(server.port, '/readyz')).status, 503);
    up = true;
    assert.is((await call(server.port, '/readyz')).status, 200);
    up = false;
    assert.is((await call(server.port, '/readyz')).status, 503);
  });
  await withServer({ ready: () => true }, async (server) => {
    assert.is((await call(server.port, '/readyz')).status, 200);
  });
});

test('/readyz is 503 when ready() throws, rejects, or hangs, and the server keeps serving', async () => {
  const { seen, logger } = warnings();
  await withServer({ ready: () => { throw new Error('upstream probe exploded'); }, logger }, async (server) => {
    assert.is((await call(server.port, '/readyz')).status, 503);
    assert.is((await call(server.port, '/healthz')).status, 200);
  });
  await withServer({ ready: () => Promise.reject(new Error('nope')), logger }, async (server) => {
    assert.is((await call(server.port, '/readyz')).status, 503);
  });
  await withServer({ ready: () => new Promise<boolean>(() => undefined), readyTimeoutMs: 50, logger }, async (server) => {
    assert.is((await call(server.port, '/readyz')).status, 503);
  });
  assert.equal(seen.map((w) => w.msg), ['readiness check threw', 'readiness check threw', 'readiness check timed out']);
});

test('/metrics serves the registry in Prometheus text format with its content type', async () => {
  await withServer({}, async (server, metrics) => {
    metrics.messagePublished();
    metrics.messagePublished();
    const reply = await call(server.port, '/metrics?debug=1');
    assert.is(reply.status, 200);
    assert.is(reply.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(reply.body, /^# TYPE amqp_trace_proxy_messages_published_total counter$/m);
    assert.match(reply.body, /^amqp_trace_proxy_messages_published_total 2$/m);
  });
});

test('unknown paths are 404, other methods 405 with Allow, HEAD is answered like GET', async () => {
  await withServer({}, async (server) => {
    assert.is((await call(server.port, '/')).status, 404);
    assert.is((await call(server.port, '/metricsx')).status, 404);
    const post = await call(server.port, '/metrics', 'POST');
    assert.is(post.status, 405);
    assert.is(post.headers['allow'], 'GET, HEAD');
    assert.is((await call(server.port, '/healthz', 'DELETE')).status, 405);
    const head = await call(server.port, '/healthz', 'HEAD');
    assert.is(head.status, 200);
    assert.is(head.body, '');
  });
});

test('extra routes are served by exact path with any method; failures become 500 and are counted', async () => {
  const { seen, logger } = warnings();
  await withServer({
    logger,
    routes: {
      '/admin/mode': (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`mode via ${req.method}`);
      },
      '/admin/broken': async () => {
        throw new Error('boom');
      },
    },
  }, async (server, metrics) => {
    const reply = await call(server.port, '/admin/mode', 'POST');
    assert.is(reply.status, 200);
    assert.is(reply.body, 'mode via POST');
    assert.is((await call(server.port, '/admin/broken')).status, 500);
    assert.match(await metrics.registry.metrics(), /amqp_trace_proxy_telemetry_errors_total\{where="http_server"\} 1/);
  });
  assert.equal(seen.map((w) => w.msg), ['metrics HTTP request failed']);
});

test('an extra route may not replace a built-in one', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  try {
    await startHttpServer({ host: '127.0.0.1', port: 0, metrics, ready: () => true, routes: { '/readyz': () => undefined } });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, Error);
    assert.match((err as Error).message, /\/readyz is built into/);
  }
});

test('a port in use rejects instead of crashing', async () => {
  const blocker = createNetServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
    await startHttpServer({ host: '127.0.0.1', port, metrics, ready: () => true }).then(
      () => assert.unreachable('should have rejected'),
      (err: NodeJS.ErrnoException) => assert.is(err.code, 'EADDRINUSE'),
    );
  } finally {
    blocker.close();
  }
});

test('close() ends kept-alive connections and can be called twice', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, metrics, ready: () => true });
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    request({ host: '127.0.0.1', port: server.port, path: '/healthz', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject).end();
  });
  const started = Date.now();
  await Promise.all([server.close(), server.close()]);
  assert.ok(Date.now() - started < 1000, 'close did not wait for the idle keep-alive socket');
  agent.destroy();
  await call(server.port, '/healthz').then(
    () => assert.unreachable('server should be closed'),
    (err: NodeJS.ErrnoException) => assert.is(err.code, 'ECONNREFUSED'),
  );
});

test.run();
