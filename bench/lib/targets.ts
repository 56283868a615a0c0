/**
 * The six things the same workloads run against. Each target but `direct` is a process
 * the harness starts fresh for every workload (so its peak RSS, VmHWM, belongs to that
 * workload alone) and stops afterwards.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientRuntime } from './clientProcess';
import { freePort } from '../../tools/freePort';
import { childEnv, forkScript, head, spawnLogged, stopChild, waitForListening } from './children';
import type { TargetId } from './config';
import { haproxyConfig } from './haproxy';
import { cpuProfArgs } from './profile';

export interface TargetContext {
  repoRoot: string;
  /** Compiled bench scripts (relay.js, client.js, ...). */
  buildDir: string;
  /** Logs and generated configs of this run. */
  runDir: string;
  broker: { host: string; port: number };
  haproxyPath: string | undefined;
  /** The OTLP sink's port, when a tracing target is selected. */
  sinkPort: number | undefined;
  /** Where Node targets write .cpuprofile files; undefined: no profiling. */
  profileDir: string | undefined;
  /** The proxy's entry point: a copy of dist/ taken when the run started. */
  proxyMain: string;
}

export interface RunningTarget {
  port: number;
  /** The process whose CPU and memory are measured; undefined for the broker itself. */
  pid: number | undefined;
  logFile: string | undefined;
  /** Whether the process is still alive (always true for `direct`). */
  alive(): boolean;
  /** Set when the clients themselves must run differently (in-process tracing). */
  clientRuntime?: ClientRuntime;
  stop(): Promise<void>;
}

export interface TargetSpec {
  id: TargetId;
  label: string;
  describe: string;
  /** Spans go to the sink; CPU is read again once the export has gone quiet. */
  exportsSpans: boolean;
  start(ctx: TargetContext, instance: string, options?: StartOptions): Promise<RunningTarget>;
}

export interface StartOptions {
  /** False for workloads measured without span export (the mixed workload): tracing, but exporter none. */
  exportSpans: boolean;
  /** NODE_OPTIONS for the proxy (the sidecar workload runs it as the webhook injects it). */
  nodeOptions?: string;
}

const LISTEN_TIMEOUT_MS = 15000;

/** Node targets write their profile on a clean exit: give them time for it. */
async function startProcess(child: ChildProcess, port: number, logFile: string, stopGraceMs = 3000): Promise<RunningTarget> {
  try {
    await waitForListening(child, port, '127.0.0.1', LISTEN_TIMEOUT_MS);
  } catch (err) {
    await stopChild(child);
    // A process that dies at start names its error first (a stack trace follows).
    const output = head(logFile, 400).replace(/\s+/g, ' ');
    throw new Error(`${(err as Error).message}${output ? `; output: ${output}` : ''}`);
  }
  return {
    port,
    pid: child.pid,
    logFile,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopChild(child, stopGraceMs),
  };
}

function nodeArgs(ctx: TargetContext, instance: string): string[] {
  return ctx.profileDir ? cpuProfArgs(ctx.profileDir, instance) : [];
}

/**
 * The proxy's environment: the harness's own, without any setting the proxy reads (a
 * PROXY_MODE_FILE or LOG_LEVEL in the caller's shell must not change what is measured),
 * plus the settings of the mode under test.
 */
function proxyEnv(settings: Record<string, string>): NodeJS.ProcessEnv {
  const env = childEnv();
  for (const key of Object.keys(env)) {
    if (/^(PROXY_|OTEL_|METRICS_|ADMIN_|DRAIN_|LOG_LEVEL$|ENABLE_TRACE_PROPAGATION$)/.test(key)) delete env[key];
  }
  return { ...env, ...settings };
}

/**
 * BENCH_PROXY_ENV="OTEL_TRACES_EXPORTER=none,PROXY_MODE_FILE=/tmp/m" adds settings to every
 * proxy target, for experiments (which part of the cost is export, say). It shows in the
 * report's command line like every BENCH_ variable, so such a run cannot pass for a normal one.
 */
function experimentEnv(): Record<string, string> {
  const raw = process.env['BENCH_PROXY_ENV'] ?? '';
  const env: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return env;
}

function proxyTarget(id: TargetId, label: string, describe: string, trace: boolean, ratio: string | undefined, extra: Record<string, string> = {}): TargetSpec {
  return {
    id,
    label,
    describe,
    exportsSpans: trace,
    async start(ctx, instance, options) {
      const port = await freePort();
      const metricsPort = await freePort();
      const logFile = join(ctx.runDir, `${instance}.log`);
      const env = proxyEnv({
        PROXY_LISTEN: `127.0.0.1:${port}`,
        PROXY_UPSTREAM: `amqp://${ctx.broker.host}:${ctx.broker.port}`,
        ENABLE_TRACE_PROPAGATION: trace ? 'true' : 'false',
        METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
        // Even in bypass mode: if anything is exported, it must go to the sink, not elsewhere.
        ...(ctx.sinkPort !== undefined ? { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ctx.sinkPort}` } : {}),
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        // The admin API's default port is fixed: two proxies on one machine would collide.
        ADMIN_LISTEN: 'off',
        ...(ratio !== undefined ? { OTEL_TRACES_SAMPLER_ARG: ratio } : {}),
        ...(options?.exportSpans === false ? { OTEL_TRACES_EXPORTER: 'none' } : {}),
        ...(options?.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}),
        ...extra,
        ...experimentEnv(),
      });
      const args = [...nodeArgs(ctx, instance), ctx.proxyMain];
      const child = spawnLogged(process.execPath, args, logFile, env, ctx.repoRoot);
      return startProcess(child, port, logFile, ctx.profileDir ? 20000 : 3000);
    },
  };
}

/**
 * The clients connect to RabbitMQ itself and trace themselves: bench/otelClient.js is
 * preloaded into every client process (see there). No process in the middle.
 */
function inProcessTarget(id: TargetId, label: string, ratio: string): TargetSpec {
  return {
    id,
    label,
    describe: `clients connect to RabbitMQ itself with @opentelemetry/instrumentation-amqplib in publisher and consumer, parentbased_traceidratio ${ratio}, batch OTLP gRPC export to the sink`,
    exportsSpans: true,
    async start(ctx, _instance, options) {
      const env: Record<string, string> = { BENCH_OTEL_RATIO: ratio };
      if (options?.exportSpans !== false && ctx.sinkPort !== undefined) env['BENCH_OTEL_ENDPOINT'] = `http://127.0.0.1:${ctx.sinkPort}`;
      return {
        port: ctx.broker.port,
        pid: undefined,
        logFile: undefined,
        alive: () => true,
        stop: async () => undefined,
        clientRuntime: { execArgv: ['--require', join(ctx.buildDir, 'otelClient.js')], env },
      };
    },
  };
}

export const TARGETS: Record<TargetId, TargetSpec> = {
  direct: {
    id: 'direct',
    label: 'broker direct',
    describe: 'clients connect to RabbitMQ itself',
    exportsSpans: false,
    async start(ctx) {
      return { port: ctx.broker.port, pid: undefined, logFile: undefined, alive: () => true, stop: async () => undefined };
    },
  },
  otel10: inProcessTarget('otel10', 'in-process OTel 10%', '0.1'),
  otel100: inProcessTarget('otel100', 'in-process OTel 100%', '1.0'),
  relay: {
    id: 'relay',
    label: 'Node relay',
    describe: 'bench/relay.ts: opaque TCP relay in Node, pipe() both ways, nothing parsed',
    exportsSpans: false,
    async start(ctx, instance) {
      const port = await freePort();
      const logFile = join(ctx.runDir, `${instance}.log`);
      const child = forkScript(
        join(ctx.buildDir, 'relay.js'),
        [`127.0.0.1:${port}`, `${ctx.broker.host}:${ctx.broker.port}`],
        logFile,
        nodeArgs(ctx, instance),
      );
      return startProcess(child, port, logFile, ctx.profileDir ? 20000 : 3000);
    },
  },
  haproxy: {
    id: 'haproxy',
    label: 'haproxy',
    describe: 'haproxy in TCP mode, one thread, generated config',
    exportsSpans: false,
    async start(ctx, instance) {
      if (!ctx.haproxyPath) throw new Error('haproxy is not installed: run ./scripts/install-system-deps.sh (scripts/host-deps.tsv names its package)');
      const port = await freePort();
      const configFile = join(ctx.runDir, `${instance}.cfg`);
      writeFileSync(configFile, haproxyConfig({ listenPort: port, upstreamHost: ctx.broker.host, upstreamPort: ctx.broker.port, maxconn: 8192 }));
      const logFile = join(ctx.runDir, `${instance}.log`);
      // -db: stay in the foreground as one process, so the pid we hold is the one forwarding.
      const child = spawnLogged(ctx.haproxyPath, ['-db', '-f', configFile], logFile, childEnv());
      return startProcess(child, port, logFile);
    },
  },
  bypass: proxyTarget('bypass', 'proxy bypass', 'node dist/main.js, ENABLE_TRACE_PROPAGATION=false', false, undefined),
  trace10: proxyTarget('trace10', 'proxy trace 10%', 'node dist/main.js, tracing, parentbased_traceidratio 0.1, spans to the OTLP sink', true, '0.1'),
  // Issue 15's outcome-based export is on by default; this row shows what it costs.
  'trace10-no-outcome': proxyTarget(
    'trace10-no-outcome', 'proxy trace 10%, no outcome export', 'as trace10, with PROXY_OUTCOME_EXPORT=false (head sampling only)', true, '0.1',
    { PROXY_OUTCOME_EXPORT: 'false' },
  ),
  trace100: proxyTarget('trace100', 'proxy trace 100%', 'node dist/main.js, tracing, parentbased_traceidratio 1.0, spans to the OTLP sink', true, '1.0'),
};

export function isProxyTarget(id: TargetId): boolean {
  return id === 'bypass' || id === 'trace10' || id === 'trace10-no-outcome' || id === 'trace100';
}
