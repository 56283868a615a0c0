'use strict';
/**
 * Docker HEALTHCHECK for images without curl: GET /healthz on the proxy's metrics listener.
 * The port follows METRICS_LISTEN (default 0.0.0.0:9464); HEALTHCHECK_URL overrides the URL.
 * Exit 0 = healthy, 1 = unhealthy (the only codes Docker defines).
 */
const http = require('node:http');

function healthUrl(env) {
  if (env.HEALTHCHECK_URL) return env.HEALTHCHECK_URL;
  const listen = env.METRICS_LISTEN || '0.0.0.0:9464';
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  const port = m ? m[3] : '9464';
  const host = m ? m[1] || m[2] : '';
  // A wildcard listener is reached on loopback; a specific address on that address.
  const target = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${target.includes(':') ? `[${target}]` : target}:${port}/healthz`;
}

const req = http.get(healthUrl(process.env), { timeout: 2000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
