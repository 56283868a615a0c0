/**
 * What each workload sends, and how one workload is run against one started target.
 * The sizes scale with BENCH_SCALE; scale 1 is the issue's 200,000 messages.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerAdmin, amqpUrl, brokerSocketLimits } from './broker';
import { ClientProcess } from './clientProcess';
import type { BenchConfig, SidecarSettings, WorkloadId } from './config';
import { clockTicksPerSecond, readCpu, readLoadAverage, readMachineCpu, readMemory, type CpuSample } from './procfs';
import type { LatencySummary, PublishMode } from './protocol';
import type { SinkHandle } from './sink';
import { SIDECAR_NODE_OPTIONS } from '../../src/webhook/sidecar';
import { linearFit } from './stats';
import { tail } from './children';
import type { RunningTarget, TargetSpec } from './targets';

export interface FlowPlan {
  kind: 'flow';
  /** Measured messages, in total over all publishing connections. */
  messages: number;
  warmup: number;
  bodyBytes: number;
  mode: PublishMode;
  publisherProcesses: number;
  connectionsPerProcess: number;
  /** Aggregate rate over all publishers, for mode 'rate'. */
  ratePerSecond: number;
  confirmWindow: number;
  flowWindow: number;
  prefetch: number;
  recordLatency: boolean;
  /** Consuming connections, in one consumer process. */
  consumers: number;
  /** Confirm channels in mode 'rate' (mode 'confirm' always uses them). */
  confirms: boolean;
  /** deliveryMode 2, into a durable queue (the broker writes such messages to disk). */
  persistent: boolean;
  /** Every largeEvery-th message carries largeBytes of body; 0: all messages are bodyBytes. */
  largeEvery: number;
  largeBytes: number;
  /** False: tracing targets run with their exporter off (the issue's mixed-load measurement). */
  exportSpans: boolean;
}

export interface IdlePlan {
  kind: 'idle';
  connections: number;
  batch: number;
}

/**
 * A pod's sidecar (issue 24): one fresh target process, first left alone (idle CPU and RSS,
 * no client connected), then each rate in turn through it (fixedRatePlan), ending at the
 * highest: what one process costs over a quiet start and the rates pods see.
 */
export interface SidecarPlan {
  kind: 'sidecar';
  settings: SidecarSettings;
  phases: FlowPlan[];
  /** The proxy runs with the NODE_OPTIONS the webhook gives an injected sidecar. */
  proxyNodeOptions: string;
}

export type WorkloadPlan = FlowPlan | IdlePlan | SidecarPlan;

export interface WorkloadSpec {
  id: WorkloadId;
  title: string;
  plan(cfg: BenchConfig): WorkloadPlan;
  describe(plan: WorkloadPlan): string;
}

const KIB = 1024;
const PREFETCH = 256;
/**
 * Messages a single publisher may be ahead of its consumer. Without a bound the broker's
 * queue grows whenever the consumer falls behind, and a broker with a backlog spends more
 * CPU per message than one handing messages straight to a waiting consumer: runs then
 * flip between the two regimes and their throughput varies by a third. A window a few
 * times the prefetch keeps every run in the second regime and the queue small.
 */
const FLOW_WINDOW = 2048;
const PROGRESS_EVERY = 128;

function scaled(cfg: BenchConfig, full: number, min: number): number {
  return Math.max(min, Math.round(full * cfg.scale));
}

/** What most workloads share: one consuming connection, transient messages of one size, export on. */
const PLAIN = { consumers: 1, confirms: false, persistent: false, largeEvery: 0, largeBytes: 0, exportSpans: true } as const;

function throughputPlan(cfg: BenchConfig, bodyBytes: number, mode: PublishMode): FlowPlan {
  const messages = scaled(cfg, 200_000, 1000);
  return {
    ...PLAIN,
    kind: 'flow',
    messages,
    warmup: Math.min(5000, Math.max(500, Math.round(messages * 0.05))),
    bodyBytes,
    mode,
    publisherProcesses: 1,
    connectionsPerProcess: 1,
    ratePerSecond: 0,
    confirmWindow: 1000,
    flowWindow: FLOW_WINDOW,
    prefetch: PREFETCH,
    recordLatency: false,
  };
}

/** One publisher at a fixed rate, 1 KiB bodies stamped with their publish time, after a second of warm-up. */
export function fixedRatePlan(rate: number, seconds: number): FlowPlan {
  return {
    ...PLAIN,
    kind: 'flow',
    messages: Math.round(rate * seconds),
    warmup: rate,
    bodyBytes: KIB,
    mode: 'rate',
    publisherProcesses: 1,
    connectionsPerProcess: 1,
    ratePerSecond: rate,
    confirmWindow: 0,
    flowWindow: 0,
    prefetch: PREFETCH,
    recordLatency: true,
  };
}

function describeFlow(plan: WorkloadPlan): string {
  if (plan.kind !== 'flow') return '';
  const size = plan.bodyBytes >= KIB ? `${plan.bodyBytes / KIB} KiB` : `${plan.bodyBytes} B`;
  const lanes = plan.publisherProcesses * plan.connectionsPerProcess;
  const publishers = lanes === 1 ? '1 publisher' : `${lanes} publishing connections in ${plan.publisherProcesses} processes`;
  const how =
    plan.mode === 'confirm'
      ? `confirm channel, ≤${plan.confirmWindow} unconfirmed`
      : plan.mode === 'rate'
        ? `${plan.ratePerSecond.toLocaleString('en-US')} msg/s fixed rate${plan.confirms ? ', confirm channels' : ''}`
        : 'as fast as backpressure allows';
  const sizes = plan.largeEvery > 0 ? `${size}, every ${plan.largeEvery}th ${plan.largeBytes / 1000} KB` : size;
  const consumers = plan.consumers === 1 ? '1 consumer' : `${plan.consumers} consuming connections`;
  const extras = [plan.persistent ? 'persistent messages, durable queue' : '', plan.exportSpans ? '' : 'tracing targets without span export'].filter(Boolean);
  return (
    `${plan.messages.toLocaleString('en-US')} × ${sizes}, ${publishers} (${how}), ${consumers} (prefetch ${plan.prefetch}, ack each), ` +
    `after ${plan.warmup.toLocaleString('en-US')} warm-up messages${extras.length > 0 ? `; ${extras.join('; ')}` : ''}`
  );
}

export const WORKLOADS: Record<WorkloadId, WorkloadSpec> = {
  'throughput-1k': {
    id: 'throughput-1k',
    title: 'Throughput, 1 KiB',
    plan: (cfg) => throughputPlan(cfg, KIB, 'flood'),
    describe: describeFlow,
  },
  'throughput-16k': {
    id: 'throughput-16k',
    title: 'Throughput, 16 KiB',
    plan: (cfg) => throughputPlan(cfg, 16 * KIB, 'flood'),
    describe: describeFlow,
  },
  'confirm-1k': {
    id: 'confirm-1k',
    title: 'Throughput, 1 KiB, publisher confirms',
    plan: (cfg) => throughputPlan(cfg, KIB, 'confirm'),
    describe: describeFlow,
  },
  latency: {
    id: 'latency',
    title: 'Latency at a fixed rate',
    plan: (cfg) => fixedRatePlan(cfg.latencyRate, cfg.latencySeconds),
    describe: describeFlow,
  },
  mixed: {
    id: 'mixed',
    title: 'Mixed sizes at a fixed rate (persistent, confirms)',
    plan: (cfg) => ({
      kind: 'flow',
      messages: Math.round(cfg.mixedRate * cfg.mixedSeconds),
      warmup: cfg.mixedRate,
      bodyBytes: KIB,
      mode: 'rate',
      publisherProcesses: 4,
      connectionsPerProcess: 1,
      ratePerSecond: cfg.mixedRate,
      confirmWindow: 0,
      flowWindow: 0,
      prefetch: PREFETCH,
      recordLatency: true,
      consumers: 2,
      confirms: true,
      persistent: true,
      largeEvery: 100,
      largeBytes: 200 * 1000,
      exportSpans: false,
    }),
    describe: describeFlow,
  },
  'fan-in': {
    id: 'fan-in',
    title: 'Fan-in',
    plan: (cfg) => {
      const processes = 2;
      const perProcess = Math.ceil(cfg.fanInConnections / processes);
      const lanes = processes * perProcess;
      const perConnection = scaled(cfg, 500, 20);
      return {
        ...PLAIN,
        kind: 'flow',
        messages: lanes * perConnection,
        warmup: lanes * 10,
        bodyBytes: KIB,
        mode: 'flood',
        publisherProcesses: processes,
        connectionsPerProcess: perProcess,
        ratePerSecond: 0,
        confirmWindow: 0,
        flowWindow: 0,
        prefetch: PREFETCH,
        recordLatency: false,
      };
    },
    describe: describeFlow,
  },
  idle: {
    id: 'idle',
    title: 'Idle connections (memory)',
    plan: (cfg) => ({ kind: 'idle', connections: cfg.idleConnections, batch: 50 }),
    describe: (plan) => (plan.kind === 'idle' ? `${plan.connections} AMQP connections with one channel each, opened 50 at a time, then idle` : ''),
  },  sidecar: {
    id: 'sidecar',
    title: 'The sidecar: idle, then 50 and 500 msg/s',
    plan: (cfg) => ({
      kind: 'sidecar', settings: cfg.sidecar, phases: cfg.sidecar.rates.map((r) => fixedRatePlan(r, cfg.sidecar.rateSeconds)), proxyNodeOptions: SIDECAR_NODE_OPTIONS,
    }),
    describe: (plan) => {
      if (plan.kind !== 'sidecar') return '';
      const { settings: s } = plan;
      const rates = s.rates.map((r) => r.toLocaleString('en-US')).join(', then ');
      return (
        `One fresh target process per round: ${s.idleSeconds} s idle with no client (${s.settleSeconds} s after it listens), ` +
        `${s.warmupSeconds > 0 ? `${s.warmupSeconds} s of unmeasured traffic at ${Math.max(...s.rates).toLocaleString('en-US')} msg/s, ` : ''}then ${rates} msg/s ` +
        `for ${s.rateSeconds} s each (1 KiB, 1 publisher, 1 consumer, prefetch ${PREFETCH}, ack each, 1 s warm-up); ` +
        `the proxy with the injected sidecar's NODE_OPTIONS (${plan.proxyNodeOptions}); ` +
        `${s.rounds} rounds, the targets' order reversed every other round; CPU from schedstat (ns) from the first measured publish to the last delivery, spans exported to the sink`
      );
    },
  },
};

export interface IdleMeasurement {
  requested: number;
  opened: number;
  /** Why fewer than requested were opened, if so. */
  cappedBecause: string | undefined;
  baselineRssMb: number;
  points: { connections: number; rssMb: number }[];
  /** RSS with `requested` connections: measured, or extrapolated linearly from the points. */
  rssAtRequestedMb: number;
  extrapolated: boolean;
  kbPerConnection: number;
  /** The target's upstream was a private node started by the harness (room for every connection). */
  privateBroker?: boolean;
}

export interface Measurement {
  messages?: number;
  seconds?: number;
  msgsPerSec?: number;
  latency?: LatencySummary;
  /** Target CPU from /proc/<pid>/stat over the measured phase (and span export, if any). */
  targetCpuUsPerMsg?: number;
  /** Same window, from schedstat (ns resolution), as a cross-check. */
  targetSchedUsPerMsg?: number;
  /** Target CPU when the last message was consumed, before waiting for span export. */
  targetCpuUsPerMsgAtDone?: number;
  /** The same from schedstat. */
  targetSchedUsPerMsgAtDone?: number;
  brokerCpuUsPerMsg?: number;
  /** Publishers' and consumer's own CPU over the measured phase. */
  clientCpuUsPerMsg?: number;
  /** Share of all CPUs busy (processes and interrupts) during the measured phase, 0..1. */
  machineBusy?: number;
  /** Interrupt and softirq CPU per message (loopback TCP, charged to no process). */
  irqCpuUsPerMsg?: number;
  /**
   * Process CPU the machine spent on anything but the target, broker, clients, OTLP sink
   * and harness during the measured phase, per message: other work disturbing the run.
   */
  otherCpuUsPerMsg?: number;
  peakRssMb?: number;
  endRssMb?: number;
  spans?: { requests: number; spans: number; bytes: number; settleMs: number };
  idle?: IdleMeasurement;
  sidecar?: SidecarMeasurement;
}

/** One rate of the sidecar workload, measured on the process that was idle before it. */
export interface SidecarPhase {
  rate: number;
  messages: number;
  /**
   * Target CPU per message from schedstat (ns resolution) from the first measured publish to
   * the last delivery: at a steady rate the batch processor exports every second, so the
   * window holds the export of all but its last second (and the previous phase's last).
   * Waiting for the export to go quiet, as the flat-out rows do, would charge seconds of
   * idle time to a few hundred messages at 50 msg/s.
   */
  cpuUsPerMsg: number | undefined;
  /** The same window from /proc/<pid>/stat ticks (10 ms), as a cross-check. */
  statUsPerMsg: number | undefined;
  latency: LatencySummary | undefined;
  /** VmRSS when the phase (and its span export) ended. */
  rssMb: number | undefined;
}

export interface SidecarMeasurement {
  idleSeconds: number;
  /** Target CPU over the idle window, ms per second (schedstat). */
  idleCpuMsPerSec: number;
  /** VmRSS at the end of the idle window. */
  idleRssMb: number;
  phases: SidecarPhase[];
  /** The machine's 1-minute load average when the round of this target ended (/proc/loadavg). */
  loadAverage: number | undefined;
}

export interface RunEnv {
  cfg: BenchConfig;
  buildDir: string;
  runDir: string;
  runId: string;
  admin: BrokerAdmin;
  brokerPid: number | undefined;
  sink: SinkHandle | undefined;
  /** The idle workload runs against a private node with room for its connections. */
  idleBrokerIsPrivate: boolean;
}

const MB = 1024;

/** The last lines the target wrote say whether it crashed or was signalled from outside. */
function targetDied(target: RunningTarget, when: string): Error {
  const output = target.logFile ? tail(target.logFile, 400).replace(/\s+/g, ' ') : '';
  return new Error(`the target process exited ${when}${output ? `; its last output: ${output}` : ''}`);
}

function cpuDelta(a: CpuSample | undefined, b: CpuSample | undefined): { stat: number; sched: number } | undefined {
  if (!a || !b) return undefined;
  return { stat: b.statUs - a.statUs, sched: b.schedUs - a.schedUs };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Span export runs on its own schedule (a batch processor flushes every few seconds), so
 * its CPU would escape a window that closes at the last delivery. Wait until the sink has
 * heard nothing for longer than one export interval, then close the window.
 */
async function settleSpanExport(sink: SinkHandle, since: number): Promise<number> {
  const quietMs = 5500;
  const maxMs = 15000;
  const start = Date.now();
  for (;;) {
    const stats = await sink.stats();
    const lastActivity = Math.max(stats.lastRequestAt, since);
    if (Date.now() - lastActivity >= quietMs || Date.now() - start >= maxMs) return Date.now() - start;
    await sleep(250);
  }
}

export async function runFlow(
  env: RunEnv,
  plan: FlowPlan,
  spec: TargetSpec,
  target: RunningTarget,
  label: string,
): Promise<Measurement> {
  const { cfg } = env;
  const url = amqpUrl('127.0.0.1', target.port, cfg.brokerUser, cfg.brokerPassword);
  const queue = `bench.${env.runId}.${label}`;
  const lanes = plan.publisherProcesses * plan.connectionsPerProcess;
  const perConnection = Math.ceil(plan.messages / lanes);
  const warmupPerConnection = Math.max(1, Math.ceil(plan.warmup / lanes));
  const total = perConnection * lanes;
  const warmup = warmupPerConnection * lanes;
  const clients: ClientProcess[] = [];
  await env.admin.declareQueue(queue, plan.persistent);
  try {
    const runtime = target.clientRuntime;
    const consumer = ClientProcess.start(env.buildDir, env.runDir, `${label}.consumer`, {
      role: 'consumer',
      url,
      queue,
      prefetch: plan.prefetch,
      warmup,
      total,
      progressEvery: plan.flowWindow > 0 ? PROGRESS_EVERY : 0,
      recordLatency: plan.recordLatency,
      connections: plan.consumers,
    }, runtime);
    clients.push(consumer);
    await withTimeout(consumer.next('ready'), 30000, 'consumer connect');
    const publishers = Array.from({ length: plan.publisherProcesses }, (_, i) =>
      ClientProcess.start(env.buildDir, env.runDir, `${label}.publisher${i}`, {
        role: 'publisher',
        url,
        queue,
        connections: plan.connectionsPerProcess,
        bodyBytes: plan.bodyBytes,
        mode: plan.mode,
        confirmWindow: plan.confirmWindow,
        ratePerSecond: plan.ratePerSecond / plan.publisherProcesses,
        flowWindow: plan.flowWindow,
        stampBodies: plan.recordLatency,
        confirms: plan.confirms,
        persistent: plan.persistent,
        largeEvery: plan.largeEvery,
        largeBytes: plan.largeBytes,
      }, runtime),
    );
    clients.push(...publishers);
    await withTimeout(Promise.all(publishers.map((p) => p.next('ready'))), 60000, 'publishers connect');
    consumer.on('progress', (m) => {
      for (const p of publishers) p.send({ type: 'consumed', count: m.consumed });
    });

    const warm = consumer.next('warm');
    for (const p of publishers) p.send({ type: 'publish', perConnection: warmupPerConnection, measured: false });
    await withTimeout(Promise.all([warm, ...publishers.map((p) => p.next('published'))]), 120000, 'warm-up');

    const pid = target.pid;
    const cpu0 = pid !== undefined ? readCpu(pid) : undefined;
    const broker0 = env.brokerPid !== undefined ? readCpu(env.brokerPid) : undefined;
    const machine0 = readMachineCpu();
    const harness0 = process.cpuUsage();
    const sinkCpu0 = env.sink?.pid !== undefined ? readCpu(env.sink.pid) : undefined;
    const exporting = spec.exportsSpans && plan.exportSpans;
    const sink0 = exporting && env.sink ? await env.sink.stats() : undefined;

    const done = consumer.next('done');
    const published = Promise.all(publishers.map((p) => p.next('published')));
    for (const p of publishers) p.send({ type: 'publish', perConnection, measured: true });
    const budgetMs = plan.mode === 'rate' ? (total / plan.ratePerSecond) * 1000 + 60000 : 60000 + total * 2;
    const [doneMsg, pubMsgs] = await withTimeout(Promise.all([done, published]), budgetMs, `${total} messages`);

    const cpuDone = pid !== undefined ? readCpu(pid) : undefined;
    const broker1 = env.brokerPid !== undefined ? readCpu(env.brokerPid) : undefined;
    const machine1 = readMachineCpu();
    const harness = process.cpuUsage(harness0);
    const sinkCpu1 = env.sink?.pid !== undefined ? readCpu(env.sink.pid) : undefined;
    let settleMs = 0;
    if (exporting && env.sink) settleMs = await settleSpanExport(env.sink, Date.now());
    const cpuEnd = pid !== undefined ? readCpu(pid) : undefined;
    const sink1 = exporting && env.sink ? await env.sink.stats() : undefined;
    const memory = pid !== undefined ? readMemory(pid) : undefined;
    if (!target.alive()) throw targetDied(target, 'during the workload');

    const firstNs = pubMsgs.reduce((min, m) => (BigInt(m.firstNs) < min ? BigInt(m.firstNs) : min), BigInt(pubMsgs[0]!.firstNs));
    const seconds = Number(BigInt(doneMsg.lastNs) - firstNs) / 1e9;
    const cpu = cpuDelta(cpu0, cpuEnd);
    const cpuAtDone = cpuDelta(cpu0, cpuDone);
    const brokerCpu = cpuDelta(broker0, broker1);
    const clientCpuUs = doneMsg.cpuUs + pubMsgs.reduce((sum, m) => sum + m.cpuUs, 0);
    const sinkCpu = cpuDelta(sinkCpu0, sinkCpu1);
    const measurement: Measurement = {
      messages: total,
      seconds,
      msgsPerSec: total / seconds,
      ...(doneMsg.latency ? { latency: doneMsg.latency } : {}),
      ...(cpu ? { targetCpuUsPerMsg: cpu.stat / total, targetSchedUsPerMsg: cpu.sched / total } : {}),
      ...(cpuAtDone ? { targetCpuUsPerMsgAtDone: cpuAtDone.stat / total, targetSchedUsPerMsgAtDone: cpuAtDone.sched / total } : {}),
      ...(brokerCpu ? { brokerCpuUsPerMsg: brokerCpu.stat / total } : {}),
      clientCpuUsPerMsg: clientCpuUs / total,
      ...(memory ? { peakRssMb: memory.hwmKb / MB, endRssMb: memory.rssKb / MB } : {}),
      ...(sink0 && sink1
        ? { spans: { requests: sink1.requests - sink0.requests, spans: sink1.spans - sink0.spans, bytes: sink1.bytes - sink0.bytes, settleMs } }
        : {}),
    };
    if (machine0 && machine1 && machine1.total > machine0.total) {
      const toUs = (ticks: number): number => (ticks * 1e6) / clockTicksPerSecond();
      const busy = machine1.busy - machine0.busy;
      const irq = machine1.irq - machine0.irq;
      measurement.machineBusy = (busy + irq) / (machine1.total - machine0.total);
      measurement.irqCpuUsPerMsg = toUs(irq) / total;
      const accounted = (cpuAtDone?.stat ?? 0) + (brokerCpu?.stat ?? 0) + clientCpuUs + (sinkCpu?.stat ?? 0) + harness.user + harness.system;
      measurement.otherCpuUsPerMsg = Math.max(0, toUs(busy) - accounted) / total;
    }
    return measurement;
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await env.admin.deleteQueue(queue);
  }
}

/**
 * The sidecar workload on one started target: the idle window first (nothing connected, so
 * only the target's own timers and start-up leftovers run), then each rate through runFlow.
 * CPU comes from schedstat: at 1 ms/s, /proc/<pid>/stat's 10 ms ticks would read 0 or 10.
 */
export async function runSidecar(env: RunEnv, plan: SidecarPlan, spec: TargetSpec, target: RunningTarget, label: string): Promise<Measurement> {
  const pid = target.pid;
  if (pid === undefined) throw new Error('no target process to measure');
  const { settings } = plan;
  await sleep(settings.settleSeconds * 1000);
  const idle0 = readCpu(pid);
  const started = process.hrtime.bigint();
  await sleep(settings.idleSeconds * 1000);
  const idle1 = readCpu(pid);
  const idleSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const idleMemory = readMemory(pid);
  if (!idle0 || !idle1 || !idleMemory || !target.alive()) throw targetDied(target, 'while idle');
  if (settings.warmupSeconds > 0) {
    const top = Math.max(...settings.rates);
    await runFlow(env, fixedRatePlan(top, settings.warmupSeconds), spec, target, `${label}.warmup`);
  }
  const phases: SidecarPhase[] = [];
  for (const phase of plan.phases) {
    const m = await runFlow(env, phase, spec, target, `${label}.${phase.ratePerSecond}`);
    phases.push({
      rate: phase.ratePerSecond,
      messages: m.messages ?? 0,
      cpuUsPerMsg: m.targetSchedUsPerMsgAtDone,
      statUsPerMsg: m.targetCpuUsPerMsgAtDone,
      latency: m.latency,
      rssMb: m.endRssMb,
    });
  }
  const memory = readMemory(pid);
  return {
    ...(memory ? { peakRssMb: memory.hwmKb / MB, endRssMb: memory.rssKb / MB } : {}),
    sidecar: {
      idleSeconds, idleCpuMsPerSec: (idle1.schedUs - idle0.schedUs) / 1000 / idleSeconds, idleRssMb: idleMemory.rssKb / MB, phases,
      loadAverage: readLoadAverage(),
    },
  };
}

/**
 * Opens idle connections through the target and reads its RSS at checkpoints. The
 * harness points the targets at a private node with room for them (BENCH_IDLE_BROKER);
 * the shared broker refuses connections beyond its socket limit (about 830 with Debian's
 * default 1024 open files), so when it is used and cannot take them all the count is capped, and the RSS at the
 * requested count is extrapolated along a line fitted to the checkpoints; the report says so.
 */
export async function runIdle(env: RunEnv, plan: IdlePlan, target: RunningTarget, label: string): Promise<Measurement> {
  const pid = target.pid;
  if (pid === undefined) throw new Error('no target process to measure');
  const url = amqpUrl('127.0.0.1', target.port, env.cfg.brokerUser, env.cfg.brokerPassword);
  let connections = plan.connections;
  let cappedBecause: string | undefined;
  const limits = env.idleBrokerIsPrivate ? undefined : await brokerSocketLimits();
  if (limits) {
    // Leave a margin: other users of the broker may open connections while this runs.
    const room = limits.limit - limits.used - Math.max(100, Math.round(0.15 * limits.limit));
    if (room < connections) {
      connections = Math.max(plan.batch, Math.floor(room / plan.batch) * plan.batch);
      cappedBecause = `RabbitMQ accepts ${limits.limit} sockets (${limits.used} in use): raise its open-file limit to measure ${plan.connections} for real`;
    }
  }
  const quarter = Math.max(plan.batch, Math.round(connections / 4 / plan.batch) * plan.batch);
  const checkpoints = [...new Set([quarter, 2 * quarter, 3 * quarter].filter((n) => n < connections)), connections];

  await sleep(1000);
  const baseline = readMemory(pid);
  if (!baseline) throw new Error('cannot read the target process memory');
  const points: { connections: number; rssMb: number }[] = [{ connections: 0, rssMb: baseline.rssKb / MB }];
  const client = ClientProcess.start(env.buildDir, env.runDir, `${label}.idle`, {
    role: 'idle',
    url,
    connections,
    batch: plan.batch,
    checkpoints,
  });
  try {
    for (const checkpoint of checkpoints) {
      const m = await withTimeout(client.next('checkpoint'), 120000, `opening ${checkpoint} connections`);
      await sleep(1000);
      const mem = readMemory(pid);
      if (mem) points.push({ connections: m.open, rssMb: mem.rssKb / MB });
      client.send({ type: 'continue' });
    }
    const ready = await withTimeout(client.next('ready'), 60000, 'idle connections');
    if (!target.alive()) throw targetDied(target, 'while connections were opened');
    const memory = readMemory(pid);
    const last = points[points.length - 1]!;
    const fit = linearFit(points.map((p) => ({ x: p.connections, y: p.rssMb })));
    const extrapolated = ready.connections < plan.connections;
    return {
      ...(memory ? { peakRssMb: memory.hwmKb / MB, endRssMb: memory.rssKb / MB } : {}),
      idle: {
        requested: plan.connections,
        opened: ready.connections,
        cappedBecause,
        baselineRssMb: baseline.rssKb / MB,
        points,
        rssAtRequestedMb: extrapolated ? fit.intercept + fit.slope * plan.connections : last.rssMb,
        extrapolated,
        kbPerConnection: fit.slope * MB,
        privateBroker: env.idleBrokerIsPrivate,
      },
    };
  } finally {
    await client.stop(30000);
  }
}
