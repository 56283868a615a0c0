/**
 * What the probes that run compiled middle hops share (idleFootprint.ts, tailTrace.ts): the
 * bench's OTLP sink from a bench build, and a proxy's environment as `make bench` gives it
 * (tracing at 10 %, spans to the sink, metrics on a free port, admin off), without any
 * PROXY_/OTEL_/METRICS_/ADMIN_ setting or NODE_OPTIONS of the probe's own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from '../../tools/freePort';

/** bench/otlpSink.js from BUILD (`npx tsc -p bench/tsconfig.json --outDir BUILD`). */
export async function startBuiltSink(build: string): Promise<{ port: number; child: ChildProcess }> {
  const child = fork(join(build, 'otlpSink.js'), [], { env: { ...process.env, NODE_PATH: resolve('node_modules') }, stdio: 'ignore' });
  const port = await new Promise<number>((done) => child.on('message', (m: { type: string; port?: number }) => m.type === 'listening' && done(m.port!)));
  return { port, child };
}

/** This process's environment without the proxy's settings. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (/^(PROXY_|OTEL_|METRICS_|ADMIN_|NODE_OPTIONS$)/.test(key)) delete env[key];
  return env;
}

/** A proxy's environment listening on `port`, exporting to the sink on `sinkPort`; `extra` last. */
export async function proxyEnv(port: number, sinkPort: number, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  return {
    ...cleanEnv(),
    PROXY_LISTEN: `127.0.0.1:${port}`, PROXY_UPSTREAM: 'amqp://127.0.0.1:5672', METRICS_LISTEN: `127.0.0.1:${await freePort()}`, ADMIN_LISTEN: 'off',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1',
    ...extra,
  };
}
