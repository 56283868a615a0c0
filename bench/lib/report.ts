/**
 * Markdown tables and the verdicts on the issues' targets, computed from results alone (pure), so the
 * same text can be printed after a run and regenerated from a saved latest.json.
 */
import { TARGET_IDS, WORKLOAD_IDS, hasMiddleHop, type TargetId, type WorkloadId } from './config';
import { cellOf, otherLoad, type BenchResults, type Cell, type ResultRow, type Verdict } from './results';
import { sidecarLoad, sidecarTables, spreadText } from './sidecar';

/** The targets of issues 8 and 16, in one place. */
export const GOALS = {
  trace10CpuVsRelay: 2.0,
  trace100CpuVsRelay: 3.5,
  bypassCpuVsRelay: 1.3,
  throughputVsRelay: 0.95,
  p50AboveRelayMs: 0.05,
  p99AboveRelayMs: 0.5,
  mixedP99VsDirect: 1.3,
  rssMbAt1000: 100,
} as const;

const fmt = (v: number | undefined, digits = 1): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !(b > 0) ? '—' : `${(a / b).toFixed(2)}×`;
const diff = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '—' : `${a - b >= 0 ? '+' : '−'}${Math.abs(a - b).toFixed(3)}`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

interface Ctx {
  results: BenchResults;
  targets: TargetId[];
  cell: (w: WorkloadId, t: TargetId) => Cell;
}

function statusText(cell: Cell): string | undefined {
  if (cell.status === 'ok') return undefined;
  return cell.status === 'failed' ? 'failed¹' : cell.status;
}

function flowTable(ctx: Ctx, w: WorkloadId): string {
  const direct = ctx.cell(w, 'direct');
  const relay = ctx.cell(w, 'relay');
  const rows = ctx.targets.map((t) => {
    const c = ctx.cell(w, t);
    const label = ctx.results.targets[t]?.label ?? t;
    const status = statusText(c);
    if (status) return [label, status, '', '', '', '', '', '', '', '', ''];
    return [
      label,
      fmt(c.msgsPerSec, 0),
      ratio(c.msgsPerSec, direct.msgsPerSec),
      ratio(c.msgsPerSec, relay.msgsPerSec),
      fmt(c.cpuUsPerMsg, 2),
      ratio(c.cpuUsPerMsg, relay.cpuUsPerMsg),
      fmt(c.clientUsPerMsg, 1),
      fmt(c.brokerUsPerMsg, 1),
      fmt(c.systemUsPerMsg, 1),
      fmt(c.peakRssMb, 0),
      c.otherLoad === undefined ? '—' : `${Math.round(c.otherLoad * 100)}%`,
    ];
  });
  return table(
    ['target', 'msgs/s', 'vs direct', 'vs relay', 'middle hop CPU µs/msg', 'CPU vs relay', 'clients CPU µs/msg', 'broker CPU µs/msg', 'system CPU µs/msg³', 'peak RSS MB', 'other load²'],
    rows,
  );
}

/** Latency against a reference target: the relay at light load (a difference), direct under mixed load (a ratio). */
function latencyTable(ctx: Ctx, w: WorkloadId, reference: TargetId, asRatio: boolean): string {
  const ref = ctx.cell(w, reference);
  const refLabel = reference === 'relay' ? 'relay' : reference;
  const versus = (a: number | undefined, b: number | undefined): string => (asRatio ? ratio(a, b) : diff(a, b));
  const rows = ctx.targets.map((t) => {
    const c = ctx.cell(w, t);
    const label = ctx.results.targets[t]?.label ?? t;
    const status = statusText(c);
    if (status) return [label, status, '', '', '', '', '', ''];
    return [
      label,
      fmt(c.p50Ms, 3),
      fmt(c.p99Ms, 3),
      fmt(c.p999Ms, 3),
      versus(c.p50Ms, ref.p50Ms),
      versus(c.p99Ms, ref.p99Ms),
      fmt(c.cpuUsPerMsg, 2),
      fmt(c.peakRssMb, 0),
    ];
  });
  const unit = asRatio ? '' : ' ms';
  return table(['target', 'p50 ms', 'p99 ms', 'p99.9 ms', `p50 vs ${refLabel}${unit}`, `p99 vs ${refLabel}${unit}`, 'middle hop CPU µs/msg', 'peak RSS MB'], rows);
}

function idleTable(ctx: Ctx): string {
  const w: WorkloadId = 'idle';
  const rows = ctx.targets.map((t) => {
    const c = ctx.cell(w, t);
    const label = ctx.results.targets[t]?.label ?? t;
    const status = statusText(c);
    if (status) return [label, status, '', '', ''];
    const how = c.idleExtrapolated ? `extrapolated from ${c.idleOpened} open` : 'measured';
    return [label, fmt(c.idleBaselineRssMb, 1), `${fmt(c.idleRssMb, 1)} (${how})`, fmt(c.idleKbPerConnection, 1), fmt(c.peakRssMb, 1)];
  });
  const requested = ctx.targets.map((t) => ctx.cell(w, t).idleRequested).find((n) => n !== undefined) ?? 1000;
  return table(['target', 'RSS before MB', `RSS with ${requested} connections MB`, 'KB per connection', 'peak RSS MB'], rows);
}

function notes(ctx: Ctx): string[] {
  const out: string[] = [];
  for (const t of ctx.targets) {
    const info = ctx.results.targets[t];
    if (info && !info.available) out.push(`- ${info.label}: unavailable: ${info.reason ?? 'unknown reason'}`);
  }
  const short = (text: string | undefined): string => {
    const t = text ?? 'unknown error';
    return t.length > 300 ? `${t.slice(0, 300)}…` : t;
  };
  const failures = ctx.results.rows.filter((r) => r.status === 'failed');
  for (const f of failures) out.push(`- ¹ ${f.workload} × ${f.target} (round ${f.round}) failed: ${short(f.error)}`);
  for (const r of ctx.results.rows.filter((row) => row.status === 'ok' && row.error)) {
    out.push(`- ${r.workload} × ${r.target} (round ${r.round}) was measured on a second attempt; ${short(r.error)}`);
  }
  const loads = ctx.results.rows
    .map((r) => (r.measurement ? otherLoad(r.measurement, ctx.results.machine.cores) : undefined))
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
  if (loads.length > 0) {
    const pct = (v: number): string => `${Math.round(v * 100)}%`;
    out.push(
      `- ² other load: the share of the machine's CPU taken by processes other than the target, broker, clients, sink and harness while a row was measured ` +
        `(median over rounds here; over all rows: median ${pct(loads[loads.length >> 1]!)}, max ${pct(loads[loads.length - 1]!)}). ` +
        'Where it is high, throughput and latency of that row are depressed; CPU per message much less so.',
    );
  }
  if (WORKLOAD_IDS.some((w) => w !== 'latency' && w !== 'mixed' && w !== 'idle' && w !== 'sidecar' && ctx.results.workloads[w] !== undefined)) {
    out.push(
      '- ³ system CPU: clients (publishers and consumer, `process.cpuUsage`, including in-process span export) + middle hop + broker (`beam.smp`), ' +
        'per message; the OTLP sink stands for the collector that every way of tracing sends to and is not counted.',
    );
  }
  const load = sidecarLoad(ctx.results.rows);
  if (load) out.push(`- sidecar: the machine's 1-minute load average at the end of each target's round: ${spreadText(load, 2)} (median, min–max over the rows).`);
  const idle = ctx.results.rows.find((r) => r.workload === 'idle' && r.measurement?.idle?.cappedBecause);
  if (idle) out.push(`- idle: ${idle.measurement!.idle!.cappedBecause}; the RSS at the requested count is a linear fit through the checkpoints.`);
  if (ctx.results.rows.some((r) => r.workload === 'idle' && r.measurement?.idle?.privateBroker)) {
    out.push('- idle: the targets forwarded to a private RabbitMQ node the harness started with a 65,536 open-file limit (`BENCH_IDLE_BROKER=private`), so every connection was real.');
  }
  return out;
}

export function verdicts(rows: readonly ResultRow[]): Verdict[] {
  const cell = (w: WorkloadId, t: TargetId): Cell => cellOf(rows, w, t);
  const out: Verdict[] = [];
  const missing = (w: WorkloadId, ts: TargetId[]): string | undefined => {
    for (const t of ts) {
      const c = cell(w, t);
      if (c.status !== 'ok') return `${t} ${w}: ${c.status}${c.note ? ` (${c.note})` : ''}`;
    }
    return undefined;
  };
  const verdict = (target: string, w: WorkloadId, need: TargetId[], judge: () => { ok: boolean; detail: string }): void => {
    const why = missing(w, need);
    if (why) out.push({ target, status: 'not measured', detail: why });
    else {
      const { ok, detail } = judge();
      out.push({ target, status: ok ? 'met' : 'not met', detail });
    }
  };

  const cpuVsRelay = (w: WorkloadId, t: TargetId, goal: number, what: string, size: string): void => {
    verdict(`CPU per message, ${what}, ≤ ${goal.toFixed(1)}× the Node relay (${size})`, w, [t, 'relay'], () => {
      const a = cell(w, t).cpuUsPerMsg!;
      const r = cell(w, 'relay').cpuUsPerMsg!;
      return { ok: a <= goal * r, detail: `${a.toFixed(2)} µs vs ${r.toFixed(2)} µs = ${(a / r).toFixed(2)}×` };
    });
  };
  cpuVsRelay('throughput-1k', 'trace10', GOALS.trace10CpuVsRelay, 'tracing at 10%', '1 KiB');
  cpuVsRelay('throughput-1k', 'trace100', GOALS.trace100CpuVsRelay, 'tracing at 100%', '1 KiB');
  cpuVsRelay('throughput-1k', 'bypass', GOALS.bypassCpuVsRelay, 'bypass', '1 KiB');
  cpuVsRelay('throughput-16k', 'bypass', GOALS.bypassCpuVsRelay, 'bypass', '16 KiB');
  for (const [proxy, inProcess, pct] of [['trace10', 'otel10', '10%'], ['trace100', 'otel100', '100%']] as const) {
    verdict(`System CPU per message, proxy tracing at ${pct} < in-process OpenTelemetry at ${pct} (1 KiB)`, 'throughput-1k', [proxy, inProcess], () => {
      const a = cell('throughput-1k', proxy).systemUsPerMsg;
      const b = cell('throughput-1k', inProcess).systemUsPerMsg;
      if (a === undefined || b === undefined) return { ok: false, detail: 'system CPU not available (broker pid not found?)' };
      return { ok: a < b, detail: `${a.toFixed(1)} µs vs ${b.toFixed(1)} µs` };
    });
    verdict(`Throughput, proxy tracing at ${pct} > in-process OpenTelemetry at ${pct} (1 KiB)`, 'throughput-1k', [proxy, inProcess], () => {
      const a = cell('throughput-1k', proxy).msgsPerSec!;
      const b = cell('throughput-1k', inProcess).msgsPerSec!;
      return { ok: a > b, detail: `${Math.round(a)} vs ${Math.round(b)} msgs/s` };
    });
  }
  for (const [w, size] of [['throughput-1k', '1 KiB'], ['throughput-16k', '16 KiB']] as const) {
    verdict(`Throughput, tracing at 10%, ≥ ${GOALS.throughputVsRelay * 100}% of the Node relay (${size}; issue 8)`, w, ['trace10', 'relay'], () => {
      const t = cell(w, 'trace10').msgsPerSec!;
      const r = cell(w, 'relay').msgsPerSec!;
      return { ok: t >= GOALS.throughputVsRelay * r, detail: `${Math.round(t)} vs ${Math.round(r)} msgs/s = ${((t / r) * 100).toFixed(1)}%` };
    });
  }
  verdict(`p50 latency, tracing at 10%, ≤ relay + ${GOALS.p50AboveRelayMs} ms`, 'latency', ['trace10', 'relay'], () => {
    const t = cell('latency', 'trace10').p50Ms!;
    const r = cell('latency', 'relay').p50Ms!;
    return { ok: t <= r + GOALS.p50AboveRelayMs, detail: `${t.toFixed(3)} ms vs ${r.toFixed(3)} ms (${diff(t, r)} ms)` };
  });
  verdict(`p99 latency, tracing at 10%, ≤ relay + ${GOALS.p99AboveRelayMs} ms`, 'latency', ['trace10', 'relay'], () => {
    const t = cell('latency', 'trace10').p99Ms!;
    const r = cell('latency', 'relay').p99Ms!;
    return { ok: t <= r + GOALS.p99AboveRelayMs, detail: `${t.toFixed(3)} ms vs ${r.toFixed(3)} ms (${diff(t, r)} ms)` };
  });
  verdict(`p99 latency under mixed load, tracing at 10% without export, ≤ ${GOALS.mixedP99VsDirect}× direct`, 'mixed', ['trace10', 'direct'], () => {
    const t = cell('mixed', 'trace10').p99Ms!;
    const d = cell('mixed', 'direct').p99Ms!;
    return { ok: t <= GOALS.mixedP99VsDirect * d, detail: `${t.toFixed(2)} ms vs ${d.toFixed(2)} ms = ${(t / d).toFixed(2)}× (p50 ${cell('mixed', 'trace10').p50Ms!.toFixed(2)} vs ${cell('mixed', 'direct').p50Ms!.toFixed(2)} ms)` };
  });
  const rss = cell('idle', 'trace10');
  if (rss.status === 'ok' && rss.idleExtrapolated) {
    out.push({ target: `RSS with 1,000 connections < ${GOALS.rssMbAt1000} MB (tracing at 10%)`, status: 'not measured', detail: `${rss.idleRssMb!.toFixed(1)} MB extrapolated from ${rss.idleOpened} connections, not measured` });
  } else {
    verdict(`RSS with 1,000 connections < ${GOALS.rssMbAt1000} MB (tracing at 10%)`, 'idle', ['trace10'], () => {
      const c = cell('idle', 'trace10');
      return { ok: c.idleRssMb! < GOALS.rssMbAt1000, detail: `${c.idleRssMb!.toFixed(1)} MB with ${c.idleOpened} connections open` };
    });
  }
  return out;
}

export function verdictLines(vs: readonly Verdict[]): string {
  return vs.map((v) => `- ${v.status === 'met' ? 'MET' : v.status === 'not met' ? 'NOT MET' : 'NOT MEASURED'}: ${v.target}: ${v.detail}`).join('\n');
}

export function roundsText(results: BenchResults): string {
  const planned = results.plannedRounds ?? results.config.rounds;
  const done = results.roundsCompleted ?? planned;
  return done < planned ? `${done} of ${planned} rounds (the run was still going)` : `${planned} round(s)`;
}

export function markdownReport(results: BenchResults): string {
  const targets = TARGET_IDS.filter((t) => results.targets[t] !== undefined);
  const ctx: Ctx = { results, targets, cell: (w, t) => cellOf(results.rows, w, t, results.machine.cores) };
  const m = results.machine;
  const parts: string[] = [
    `Run ${results.startedAt} · ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB · Node ${m.node} · RabbitMQ ${m.rabbitmq} · ${m.haproxy} · proxy at ${m.gitCommit}`,
    `Command: \`${results.command}\` · scale ${results.config.scale} · ${roundsText(results)} · ${Math.round(results.durationSeconds)} s`,
  ];
  const workloads = WORKLOAD_IDS.filter((w) => results.workloads[w] !== undefined);
  for (const w of workloads) {
    const info = results.workloads[w]!;
    parts.push(`### ${info.title}\n\n${info.describe}`);
    if (w === 'sidecar') {
      const label = (t: TargetId): string => results.targets[t]?.label ?? t;
      parts.push(...sidecarTables({ rows: results.rows, targets: targets.filter(hasMiddleHop), label }));
      continue;
    }
    parts.push(
      w === 'latency' ? latencyTable(ctx, w, 'relay', false) : w === 'mixed' ? latencyTable(ctx, w, 'direct', true) : w === 'idle' ? idleTable(ctx) : flowTable(ctx, w),
    );
  }
  const n = notes(ctx);
  if (n.length > 0) parts.push(`Notes:\n\n${n.join('\n')}`);
  parts.push(`### Targets (${results.suite === 'sidecar' ? 'issue 24' : 'issues 8 and 16'})\n\n${verdictLines(results.verdicts)}`);
  return `${parts.join('\n\n')}\n`;
}
