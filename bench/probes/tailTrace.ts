/**
 * Where the slow messages at a fixed rate come from (issue 24's tail). Every variant is
 * started once and kept running, with tailPreload.cjs loaded (garbage collections and, in
 * the proxy, the export's slices and sends, on the host's monotonic clock). Each round
 * drives RATE msg/s of 1 KiB messages stamped with process.hrtime through one variant at a
 * time (one publisher, one consumer, prefetch 256, each acked: the sidecar table's shape),
 * the order reversed every other round, and then, for the messages slower than the
 * variant's p99 in that round, counts what overlapped their flight: a collection or an
 * export step in the middle hop, a collection in this (client) process, or nothing seen.
 * The same counts over all messages give the base rate to compare with. Also printed: the
 * middle hop's CPU and run-queue wait (schedstat, all threads) per message.
 *
 *   npx tsc -p bench/tsconfig.json --outDir /tmp/bench-build   # relay.js
 *   BENCH_BUILD=/tmp/bench-build npx tsx bench/probes/tailTrace.ts 500 20 6 'relay|relay' 'proxy|dist'
 *
 * A variant is `label|relay[|K=V,...]` (Node's defaults, as the table runs it) or `label|DIST[|K=V,...]` (DIST/main.js, tracing at 10 %, spans
 * to a local OTLP sink, the sidecar's NODE_OPTIONS, K=V added to its environment; a K
 * starting with -- is a node flag instead). The first round of each variant is V8's warm-up
 * and left out of the totals. TAIL_KEEP=DIR keeps each round's steps and flights there as
 * JSON, for tailProfile.ts to lay over a --cpu-prof profile of the same process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'amqplib';
import { freePort } from '../../tools/freePort';
import { cleanEnv, proxyEnv, startBuiltSink } from './probeProcesses';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/sidecar';

interface Variant {
  label: string;
  child: ChildProcess;
  port: number;
  traceFile: string;
}

interface Step {
  what: string;
  at: number;
  ms: number;
  /** The process's CPU meanwhile (socket handlers only). */
  cpuMs?: number;
}

interface Totals {
  messages: number;
  slow: number;
  sampled: number;
  sampledSlow: number;
  p50: number[];
  p99: number[];
  p999: number[];
  cpuUs: number[];
  waitUs: number[];
  /** cause -> [slow messages it overlapped, all messages it overlapped] */
  causes: Map<string, [number, number]>;
  steps: Map<string, { n: number; ms: number; max: number; cpuMs: number }>;
  /** Sums of the five parts (PARTS) over the messages under and over their round's p99. */
  partsAll: { n: number; sum: number[] };
  partsSlow: { n: number; sum: number[] };
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const clientOffsetMs = nowMs() - performance.now();
let clientGcs: Step[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) clientGcs.push({ what: 'client gc', at: e.startTime + clientOffsetMs, ms: e.duration });
}).observe({ entryTypes: ['gc'] });

function schedstat(pid: number): { cpuUs: number; waitUs: number } {
  let cpu = 0;
  let wait = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const [run, queued] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
    cpu += Number(run);
    wait += Number(queued);
  }
  return { cpuUs: cpu / 1000, waitUs: wait / 1000 };
}

async function startVariant(spec: string, build: string, sinkPort: number): Promise<Variant> {
  const [label, where, extra] = spec.split('|');
  if (!label || !where) throw new Error(`variant '${spec}': want label|relay or label|DIST[|K=V,...]`);
  const port = await freePort();
  const traceFile = join(tmpdir(), `tail-trace.${process.pid}.${label.replace(/\W/g, '_')}.json`);
  const preload = ['-r', join(__dirname, 'tailPreload.cjs')];
  const settings = (extra ?? '').split(',').filter(Boolean);
  const flags = settings.filter((s) => s.startsWith('--'));
  const added = Object.fromEntries(settings.filter((s) => !s.startsWith('--')).map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
  let child: ChildProcess;
  if (where === 'relay') {
    // As the sidecar table runs it: Node's defaults.
    const env = { ...cleanEnv(), TAIL_TRACE_FILE: traceFile, ...added };
    child = spawn(process.execPath, [...flags, ...preload, join(build, 'relay.js'), `127.0.0.1:${port}`, '127.0.0.1:5672'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  } else {
    const dist = resolve(where);
    const env = await proxyEnv(port, sinkPort, { NODE_OPTIONS: SIDECAR_NODE_OPTIONS, LOG_LEVEL: 'warn', TAIL_TRACE_FILE: traceFile, TAIL_DIST: dist, ...added });
    child = spawn(process.execPath, [...flags, ...preload, join(dist, 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    try {
      const c = await connect(`amqp://guest:guest@127.0.0.1:${port}`);
      await c.close();
      return { label, child, port, traceFile };
    } catch {
      // not listening yet
    }
  }
  throw new Error(`${label} did not start`);
}

/** What the middle hop noted since the last call: its steps, and each message's passes (stamp, start, duration, flat). */
interface HopTrace {
  events: Step[];
  passes: number[];
}

async function traceOf(v: Variant): Promise<HopTrace> {
  rmSync(v.traceFile, { force: true });
  v.child.kill('SIGUSR2');
  for (let i = 0; i < 50; i++) {
    await sleep(20);
    try {
      return JSON.parse(readFileSync(v.traceFile, 'utf8')) as HopTrace;
    } catch {
      // not written yet
    }
  }
  throw new Error(`${v.label} wrote no trace`);
}

interface Flight {
  sentMs: number;
  latencyMs: number;
  /** The delivery's traceparent says sampled (the proxy recorded its spans). */
  sampled: boolean;
}

async function drive(v: Variant, rate: number, seconds: number): Promise<{ flights: Flight[]; cpuUs: number; waitUs: number }> {
  const url = `amqp://guest:guest@127.0.0.1:${v.port}`;
  const publisher = await connect(url, { noDelay: true });
  const consumer = await connect(url, { noDelay: true });
  const pub = await publisher.createChannel();
  const sub = await consumer.createChannel();
  const queue = `tail-trace.${v.label.replace(/\W/g, '_')}.${process.pid}`;
  await sub.assertQueue(queue, { durable: false, autoDelete: true });
  await sub.prefetch(256);
  const flights: Flight[] = [];
  await sub.consume(queue, (msg) => {
    if (msg === null) return;
    const arrived = process.hrtime.bigint();
    const sent = msg.content.readBigUInt64BE(0);
    const traceparent: unknown = msg.properties.headers?.['traceparent'];
    flights.push({ sentMs: Number(sent) / 1e6, latencyMs: Number(arrived - sent) / 1e6, sampled: typeof traceparent === 'string' && traceparent.endsWith('-01') });
    sub.ack(msg);
  });
  const template = Buffer.alloc(1024, 0x61);
  const total = rate * seconds;
  const before = schedstat(v.child.pid!);
  const start = nowMs();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMs() - start) * rate) / 1000) + 1);
    while (sent < due) {
      const body = Buffer.from(template);
      body.writeBigUInt64BE(process.hrtime.bigint(), 0);
      pub.sendToQueue(queue, body, { headers: { app: 'tail' } });
      sent += 1;
    }
    await sleep(Math.max(0, start + (sent * 1000) / rate - nowMs()));
  }
  for (let i = 0; i < 200 && flights.length < total; i++) await sleep(10);
  const after = schedstat(v.child.pid!);
  await publisher.close();
  await consumer.close();
  return { flights, cpuUs: (after.cpuUs - before.cpuUs) / flights.length, waitUs: (after.waitUs - before.waitUs) / flights.length };
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const PARTS = ['to the hop', 'in the hop, publish', 'hop to hop (broker)', 'in the hop, delivery', 'to the consumer'] as const;

/**
 * Each message's latency in five parts, from its two passes through the middle hop: its
 * publish's handler start and end, its delivery's handler start and end.
 */
function partsOf(flights: readonly Flight[], passes: readonly number[]): Map<Flight, number[]> {
  const seen = new Map<number, number[]>();
  for (let i = 0; i + 2 < passes.length; i += 3) {
    const list = seen.get(passes[i]!) ?? [];
    list.push(passes[i + 1]!, passes[i + 2]!);
    seen.set(passes[i]!, list);
  }
  const parts = new Map<Flight, number[]>();
  for (const f of flights) {
    const p = seen.get(f.sentMs);
    if (p?.length !== 4) continue;
    const [at1, ms1, at2, ms2] = p as [number, number, number, number];
    parts.set(f, [at1 - f.sentMs, ms1, at2 - at1 - ms1, ms2, f.sentMs + f.latencyMs - at2 - ms2]);
  }
  return parts;
}

function tally(t: Totals, flights: readonly Flight[], trace: HopTrace, client: readonly Step[]): void {
  const hop = trace.events;
  const sorted = flights.map((f) => f.latencyMs).sort((a, b) => a - b);
  const p99 = quantile(sorted, 0.99);
  for (const [f, p] of partsOf(flights, trace.passes)) {
    const into = f.latencyMs > p99 ? t.partsSlow : t.partsAll;
    into.n += 1;
    p.forEach((ms, i) => (into.sum[i]! += ms));
  }
  t.p50.push(quantile(sorted, 0.5));
  t.p99.push(p99);
  t.p999.push(quantile(sorted, 0.999));
  for (const s of hop) {
    const entry = t.steps.get(s.what) ?? { n: 0, ms: 0, max: 0, cpuMs: 0 };
    entry.n += 1;
    entry.ms += s.ms;
    entry.cpuMs += s.cpuMs ?? Number.NaN;
    entry.max = Math.max(entry.max, s.ms);
    t.steps.set(s.what, entry);
  }
  const labelled = [...hop.map((s) => ({ ...s, what: `hop ${s.what}` })), ...client].sort((a, b) => a.at - b.at);
  const longest = labelled.reduce((m, s) => Math.max(m, s.ms), 0);
  for (const f of flights) {
    const slow = f.latencyMs > p99;
    t.messages += 1;
    if (slow) t.slow += 1;
    if (f.sampled) {
      t.sampled += 1;
      if (slow) t.sampledSlow += 1;
    }
    const end = f.sentMs + f.latencyMs;
    const seen = new Set<string>();
    // The first step that could reach into this flight: none lasts longer than longest.
    let lo = 0;
    let hi = labelled.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (labelled[mid]!.at < f.sentMs - longest) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < labelled.length; i++) {
      const s = labelled[i]!;
      if (s.at > end) break;
      if (s.at + s.ms >= f.sentMs) seen.add(s.what.replace(/^hop gc\d+$/, 'hop gc'));
    }
    if (seen.size === 0) seen.add('nothing seen');
    for (const cause of seen) {
      const c = t.causes.get(cause) ?? [0, 0];
      if (slow) c[0] += 1;
      c[1] += 1;
      t.causes.set(cause, c);
    }
  }
}

async function main(): Promise<void> {
  const [rateArg, secondsArg, roundsArg, ...specs] = process.argv.slice(2);
  const rate = Number(rateArg);
  const seconds = Number(secondsArg);
  const rounds = Number(roundsArg);
  if (!(rate > 0) || !(seconds > 0) || !(rounds > 1) || specs.length === 0) {
    throw new Error("usage: tailTrace.ts RATE SECONDS ROUNDS(>1) 'label|relay' 'label|DIST[|K=V,...]' ...");
  }
  const build = resolve(process.env['BENCH_BUILD'] ?? '/tmp/bench-build');
  const { child: sink, port: sinkPort } = await startBuiltSink(build);
  const variants: Variant[] = [];
  const totals = new Map<string, Totals>();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const v of variants) v.child.kill();
      sink.kill();
      process.exit(1);
    });
  }
  try {
    for (const spec of specs) variants.push(await startVariant(spec, build, sinkPort));
    for (const v of variants) totals.set(v.label, { messages: 0, slow: 0, sampled: 0, sampledSlow: 0, p50: [], p99: [], p999: [], cpuUs: [], waitUs: [], causes: new Map(), steps: new Map(), partsAll: { n: 0, sum: PARTS.map(() => 0) }, partsSlow: { n: 0, sum: PARTS.map(() => 0) } });
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      const line: string[] = [];
      for (const v of order) {
        await traceOf(v);
        clientGcs = [];
        const r = await drive(v, rate, seconds);
        const hop = await traceOf(v);
        const sorted = r.flights.map((f) => f.latencyMs).sort((a, b) => a - b);
        line.push(`${v.label} p50 ${quantile(sorted, 0.5).toFixed(2)} p99 ${quantile(sorted, 0.99).toFixed(2)} p99.9 ${quantile(sorted, 0.999).toFixed(2)} ms, cpu ${r.cpuUs.toFixed(0)} wait ${r.waitUs.toFixed(0)} µs/msg`);
        if (process.env['TAIL_KEEP']) writeFileSync(join(process.env['TAIL_KEEP'], `${v.label.replace(/\W/g, '_')}.${round + 1}.json`), JSON.stringify({ hop, client: clientGcs, flights: r.flights }));
        if (round === 0) continue;
        const t = totals.get(v.label)!;
        t.cpuUs.push(r.cpuUs);
        t.waitUs.push(r.waitUs);
        tally(t, r.flights, hop, clientGcs);
      }
      process.stdout.write(`round ${round + 1}${round === 0 ? ' (warm-up, left out)' : ''} load ${loadavg()[0]!.toFixed(2)}: ${line.join('; ')}\n`);
    }
  } finally {
    for (const v of variants) {
      v.child.kill();
      rmSync(v.traceFile, { force: true });
    }
    sink.kill();
  }
  const med = (xs: number[]): string => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
  for (const [label, t] of totals) {
    process.stdout.write(`\n${label}: rounds 2-${rounds}, medians: p50 ${med(t.p50)} p99 ${med(t.p99)} p99.9 ${med(t.p999)} ms; cpu ${med(t.cpuUs)} µs/msg, run-queue wait ${med(t.waitUs)} µs/msg\n`);
    process.stdout.write(`  middle hop's steps: ${[...t.steps].map(([k, s]) => `${k} ${s.n}× mean ${(s.ms / s.n).toFixed(2)}${Number.isNaN(s.cpuMs) ? '' : ` (CPU ${(s.cpuMs / s.n).toFixed(2)})`} max ${s.max.toFixed(2)} ms`).join('; ')}\n`);
    const mean = (p: { n: number; sum: number[] }, i: number): string => (p.sum[i]! / Math.max(1, p.n)).toFixed(3);
    process.stdout.write(`  latency in parts, mean ms, messages under / over their round's p99 (${t.partsAll.n} / ${t.partsSlow.n} placed):\n`);
    PARTS.forEach((name, i) => process.stdout.write(`    ${name.padEnd(22)} ${mean(t.partsAll, i).padStart(7)} / ${mean(t.partsSlow, i).padStart(7)}\n`));
    process.stdout.write(`  sampled: ${((100 * t.sampledSlow) / Math.max(1, t.slow)).toFixed(1)} % of the messages over p99, ${((100 * t.sampled) / t.messages).toFixed(1)} % of all\n`);
    process.stdout.write(`  in flight of the ${t.slow} messages over their round's p99 (of ${t.messages}), against all messages:\n`);
    for (const [cause, [slow, all]] of [...t.causes].sort((a, b) => b[1][0] - a[1][0])) {
      process.stdout.write(`    ${cause.padEnd(14)} ${((100 * slow) / Math.max(1, t.slow)).toFixed(1).padStart(5)} % of slow   ${((100 * all) / t.messages).toFixed(1).padStart(5)} % of all\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
