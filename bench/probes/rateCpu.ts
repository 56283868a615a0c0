/**
 * CPU per message of long-lived middle hops at a fixed rate, builds side by side (issue 24):
 * every variant is started once and kept running, then each round drives RATE msg/s of 1 KiB
 * messages (one amqplib publisher, one consumer, prefetch 256, ack each, the sidecar table's
 * shape) through one variant at a time, the order reversed every other round, and charges
 * the variant's process CPU (schedstat, all threads) over the round's measured window. Kept
 * alive across rounds, the processes are past V8's warm-up after the first round, so later
 * rounds show the steady state; the first is printed but best left out.
 *
 *   npx tsx bench/probes/rateCpu.ts RATE SECONDS ROUNDS 'relay|relay' 'old|/tmp/old/dist' 'new|dist' ...
 *
 * A variant is `label|relay` (bench/relay.ts) or `label|DIST` (DIST/main.js, tracing at 10 %
 * by default, spans to a local OTLP sink, the sidecar's NODE_OPTIONS); `label|DIST|K=V,K=V`
 * adds proxy settings (ENABLE_TRACE_PROPAGATION=false for bypass, OTEL_TRACES_SAMPLER_ARG=0).
 * The broker is RabbitMQ at 127.0.0.1:5672 (guest/guest).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { connect } from 'amqplib';
import { openAckingPair } from './ackingPair';
import { readCpu } from '../lib/procfs';

interface Variant {
  label: string;
  child: ChildProcess;
  port: number;
}

const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=160';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

async function startSink(): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(__dirname, '..', 'otlpSink.ts'), [], { execArgv: ['-r', 'tsx/cjs'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((res) => child.on('message', (m: { type: string; port: number }) => m.type === 'listening' && res(m.port)));
  return { child, port };
}

async function startVariant(spec: string, sinkPort: number): Promise<Variant> {
  const [label, where, extra] = spec.split('|');
  if (!label || !where) throw new Error(`variant '${spec}': want label|relay or label|DIST[|K=V,...]`);
  const port = await freePort();
  let child: ChildProcess;
  if (where === 'relay') {
    child = spawn(process.execPath, ['-r', 'tsx/cjs', join(__dirname, '..', 'relay.ts'), `127.0.0.1:${port}`, '127.0.0.1:5672'], { stdio: 'inherit' });
  } else {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      PROXY_LISTEN: `127.0.0.1:${port}`,
      PROXY_UPSTREAM: 'amqp://127.0.0.1:5672',
      ENABLE_TRACE_PROPAGATION: 'true',
      METRICS_LISTEN: `127.0.0.1:${await freePort()}`,
      ADMIN_LISTEN: 'off',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
      NODE_OPTIONS: SIDECAR_NODE_OPTIONS,
      LOG_LEVEL: 'warn',
    };
    for (const pair of (extra ?? '').split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    child = spawn(process.execPath, [join(resolve(where), 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    try {
      const c = await connect(`amqp://guest:guest@127.0.0.1:${port}`);
      await c.close();
      return { label, child, port };
    } catch {
      // not listening yet
    }
  }
  throw new Error(`${label} did not start`);
}

/** RATE msg/s through the variant for `seconds`; the CPU of the last `measure` seconds. */
async function drive(v: Variant, rate: number, warm: number, measure: number): Promise<{ usPerMsg: number; messages: number }> {
  const pair = await openAckingPair(v.port, `rate-cpu.${v.label}`);
  const start = performance.now();
  let sent = 0;
  let mark: { cpu: number; received: number } | undefined;
  for (;;) {
    const elapsed = (performance.now() - start) / 1000;
    if (mark === undefined && elapsed >= warm) mark = { cpu: readCpu(v.child.pid!)!.schedUs, received: pair.received() };
    if (elapsed >= warm + measure) break;
    const due = Math.floor(elapsed * rate);
    while (sent < due) {
      pair.publish();
      sent += 1;
    }
    await sleep(1);
  }
  const cpu = readCpu(v.child.pid!)!.schedUs;
  const messages = pair.received() - mark!.received;
  await pair.close();
  return { usPerMsg: (cpu - mark!.cpu) / messages, messages };
}

async function main(): Promise<void> {
  const [rateArg, secondsArg, roundsArg, ...specs] = process.argv.slice(2);
  const rate = Number(rateArg);
  const seconds = Number(secondsArg);
  const rounds = Number(roundsArg);
  if (!(rate > 0) || !(seconds > 0) || !(rounds > 0) || specs.length === 0) {
    throw new Error("usage: rateCpu.ts RATE SECONDS ROUNDS 'label|relay' 'label|DIST[|K=V,...]' ...");
  }
  const sink = await startSink();
  const variants: Variant[] = [];
  try {
    for (const spec of specs) variants.push(await startVariant(spec, sink.port));
    const results = new Map<string, number[]>(variants.map((v) => [v.label, []]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      const line: string[] = [];
      for (const v of order) {
        const r = await drive(v, rate, 3, seconds);
        results.get(v.label)!.push(r.usPerMsg);
        line.push(`${v.label} ${r.usPerMsg.toFixed(1)}`);
      }
      process.stdout.write(`round ${round + 1} (load ${(await import('node:os')).loadavg()[0]!.toFixed(2)}): ${line.join(', ')}\n`);
    }
    for (const [label, values] of results) {
      const later = values.length > 1 ? values.slice(1) : values;
      const sorted = [...later].sort((a, b) => a - b);
      process.stdout.write(`${label}: µs/msg ${values.map((x) => x.toFixed(1)).join(' ')}; median after round 1 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}\n`);
    }
  } finally {
    for (const v of variants) v.child.kill();
    sink.child.kill();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
