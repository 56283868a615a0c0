/**
 * The shape of bench/results/latest.json, and the reduction of its rows (one per round,
 * workload and target) to one cell per workload and target (medians over rounds).
 */
import { hasMiddleHop, type BenchConfig, type TargetId, type WorkloadId } from './config';
import type { MachineInfo } from './machine';
import { median } from './stats';
import type { Measurement } from './workloads';

export type RowStatus = 'ok' | 'failed' | 'unavailable' | 'not applicable' | 'not run';

export interface ResultRow {
  round: number;
  workload: WorkloadId;
  target: TargetId;
  status: RowStatus;
  error?: string;
  measurement?: Measurement;
}

export interface TargetInfo {
  label: string;
  describe: string;
  available: boolean;
  reason?: string;
}

export interface Verdict {
  target: string;
  status: 'met' | 'not met' | 'not measured';
  detail: string;
}

export interface BenchResults {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  command: string;
  config: BenchConfig;
  /** Rounds finished when this was written (a run writes its results after every round); absent: all. */
  roundsCompleted?: number;
  /**
   * Which file this is: `flat-out` (latest.*, the default for files written before issue 24)
   * or `sidecar` (sidecar.*), which has its own rounds (plannedRounds).
   */
  suite?: 'flat-out' | 'sidecar';
  /** Rounds planned for this file's workloads; absent: config.rounds. */
  plannedRounds?: number;
  machine: MachineInfo;
  targets: Partial<Record<TargetId, TargetInfo>>;
  workloads: Partial<Record<WorkloadId, { title: string; describe: string }>>;
  rows: ResultRow[];
  verdicts: Verdict[];
}

/** One workload × target, medians over the rounds that succeeded. */
export interface Cell {
  status: RowStatus;
  note?: string;
  rounds: number;
  msgsPerSec?: number;
  p50Ms?: number;
  p99Ms?: number;
  p999Ms?: number;
  cpuUsPerMsg?: number;
  schedUsPerMsg?: number;
  cpuUsPerMsgAtDone?: number;
  brokerUsPerMsg?: number;
  /** Publishers' and consumer's own CPU. */
  clientUsPerMsg?: number;
  /** Clients + middle hop + broker: what the whole path costs the machine per message. */
  systemUsPerMsg?: number;
  peakRssMb?: number;
  /** Share of the machine's CPU that other processes took during the measured phase. */
  otherLoad?: number;
  spansPerMsg?: number;
  idleBaselineRssMb?: number;
  idleRssMb?: number;
  idleOpened?: number;
  idleRequested?: number;
  idleExtrapolated?: boolean;
  idleKbPerConnection?: number;
}

function med(measurements: Measurement[], pick: (m: Measurement) => number | undefined): number | undefined {
  const values = measurements.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return values.length > 0 ? median(values) : undefined;
}

/**
 * Clients + middle hop + broker, per message. Undefined when a part is missing (a middle
 * hop whose CPU could not be read, the broker's pid not found). The OTLP sink stands for
 * the collector every way of tracing sends to, so it is not counted.
 */
export function systemCpu(m: Measurement, middleHop: boolean): number | undefined {
  if (m.clientCpuUsPerMsg === undefined || m.brokerCpuUsPerMsg === undefined) return undefined;
  if (middleHop && m.targetCpuUsPerMsg === undefined) return undefined;
  return m.clientCpuUsPerMsg + m.brokerCpuUsPerMsg + (middleHop ? m.targetCpuUsPerMsg! : 0);
}

export function otherLoad(m: Measurement, cores: number): number | undefined {
  if (m.otherCpuUsPerMsg === undefined || m.msgsPerSec === undefined) return undefined;
  return (m.otherCpuUsPerMsg * m.msgsPerSec) / (cores * 1e6);
}

export function cellOf(rows: readonly ResultRow[], workload: WorkloadId, target: TargetId, cores = 1): Cell {
  const mine = rows.filter((r) => r.workload === workload && r.target === target);
  const ok = mine.filter((r) => r.status === 'ok' && r.measurement).map((r) => r.measurement!);
  if (ok.length === 0) {
    const first = mine[0];
    return { status: first?.status ?? 'not run', ...(first?.error ? { note: first.error } : {}), rounds: 0 };
  }
  const idle = ok.map((m) => m.idle).filter((i) => i !== undefined);
  const cell: Cell = { status: 'ok', rounds: ok.length };
  const set = <K extends keyof Cell>(key: K, value: Cell[K] | undefined): void => {
    if (value !== undefined) cell[key] = value;
  };
  set('msgsPerSec', med(ok, (m) => m.msgsPerSec));
  set('p50Ms', med(ok, (m) => m.latency?.p50Ms));
  set('p99Ms', med(ok, (m) => m.latency?.p99Ms));
  set('p999Ms', med(ok, (m) => m.latency?.p999Ms));
  set('cpuUsPerMsg', med(ok, (m) => m.targetCpuUsPerMsg));
  set('schedUsPerMsg', med(ok, (m) => m.targetSchedUsPerMsg));
  set('cpuUsPerMsgAtDone', med(ok, (m) => m.targetCpuUsPerMsgAtDone));
  set('brokerUsPerMsg', med(ok, (m) => m.brokerCpuUsPerMsg));
  set('clientUsPerMsg', med(ok, (m) => m.clientCpuUsPerMsg));
  set('systemUsPerMsg', med(ok, (m) => systemCpu(m, hasMiddleHop(target))));
  set('peakRssMb', med(ok, (m) => m.peakRssMb));
  set('otherLoad', med(ok, (m) => otherLoad(m, cores)));
  set('spansPerMsg', med(ok, (m) => (m.spans && m.messages ? m.spans.spans / m.messages : undefined)));
  if (idle.length > 0) {
    set('idleBaselineRssMb', median(idle.map((i) => i.baselineRssMb)));
    set('idleRssMb', median(idle.map((i) => i.rssAtRequestedMb)));
    set('idleOpened', Math.min(...idle.map((i) => i.opened)));
    set('idleRequested', idle[0]!.requested);
    set('idleExtrapolated', idle.some((i) => i.extrapolated));
    set('idleKbPerConnection', median(idle.map((i) => i.kbPerConnection)));
  }
  return cell;
}
