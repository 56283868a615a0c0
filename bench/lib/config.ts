/**
 * Benchmark settings, read from the environment in one place. Every problem is reported
 * at once, so a typo in BENCH_TARGETS does not cost a run.
 */

export const TARGET_IDS = ['direct', 'otel10', 'otel100', 'relay', 'haproxy', 'bypass', 'trace10', 'trace10-no-outcome', 'trace100'] as const;
export type TargetId = (typeof TARGET_IDS)[number];

/** Targets where the clients talk to RabbitMQ itself: no process in the middle to measure. */
export function hasMiddleHop(id: TargetId): boolean {
  return id !== 'direct' && id !== 'otel10' && id !== 'otel100';
}

export const WORKLOAD_IDS = ['throughput-1k', 'throughput-16k', 'confirm-1k', 'latency', 'mixed', 'fan-in', 'idle', 'sidecar'] as const;
export type WorkloadId = (typeof WORKLOAD_IDS)[number];

/**
 * The sidecar workload (issue 24) is reported on its own (bench/results/sidecar.*), with its
 * own rounds: a run of it alone leaves the flat-out tables of latest.* as they are.
 */
export function isSidecarWorkload(id: WorkloadId): boolean {
  return id === 'sidecar';
}

/** What a pod's sidecar costs at rest and at the rates pods see (issue 24). */
export interface SidecarSettings {
  /** Rounds of the sidecar workload; the targets alternate in order from round to round. */
  rounds: number;
  /** Seconds between the target's start and the idle window (start-up's own work settles). */
  settleSeconds: number;
  /** Length of the idle window: no client connected. */
  idleSeconds: number;
  /**
   * Seconds of traffic at the highest rate, after the idle window and before the measured
   * rates, not measured: a pod's sidecar runs for days, so its cost per message is that of a
   * process whose hot code V8 has compiled (the first seconds of traffic pay for the
   * compiling too). Every target gets the same. 0 measures the first traffic.
   */
  warmupSeconds: number;
  /** The fixed rates, messages/s, each run for rateSeconds after one second of warm-up. */
  rates: number[];
  rateSeconds: number;
}

export interface BenchConfig {
  /** 1 = the sizes named in issue 8 (200,000 messages per throughput workload). */
  scale: number;
  targets: TargetId[];
  workloads: WorkloadId[];
  /** Each (workload, target) pair is run this many times; the report takes medians. */
  rounds: number;
  /** `host:port` of RabbitMQ; clients log in as guest/guest. */
  broker: { host: string; port: number };
  brokerUser: string;
  brokerPassword: string;
  latencyRate: number;
  latencySeconds: number;
  /** The mixed workload: aggregate rate and duration. */
  mixedRate: number;
  mixedSeconds: number;
  idleConnections: number;
  /**
   * 'private': the idle workload's targets connect to a RabbitMQ node the harness starts
   * with a high open-file limit, so 1,000 connections are real; 'shared': the broker above
   * (which may accept fewer; the RSS at the requested count is then extrapolated).
   */
  idleBroker: 'private' | 'shared';
  fanInConnections: number;
  outDir: string;
  /** Run the Node targets under --cpu-prof and print their hottest functions. */
  profile: boolean;
  sidecar: SidecarSettings;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid benchmark settings:\n  ${problems.join('\n  ')}`);
  }
}

function parseList<T extends string>(
  name: string,
  raw: string | undefined,
  allowed: readonly T[],
  problems: string[],
): T[] {
  if (raw === undefined || raw.trim() === '') return [...allowed];
  const picked: T[] = [];
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if ((allowed as readonly string[]).includes(item)) picked.push(item as T);
    else problems.push(`${name}: unknown "${item}" (known: ${allowed.join(', ')})`);
  }
  // Keep the canonical order so tables always read direct, relay, haproxy, ...
  return allowed.filter((id) => picked.includes(id));
}

function parseNumber(
  name: string,
  raw: string | undefined,
  fallback: number,
  problems: string[],
  check: (n: number) => boolean,
  rule: string,
): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || !check(n)) {
    problems.push(`${name}=${raw}: must be ${rule}`);
    return fallback;
  }
  return n;
}

function parseRates(raw: string | undefined, problems: string[]): number[] {
  if (raw === undefined || raw.trim() === '') return [50, 500];
  const rates = raw.split(',').map((r) => Number(r.trim()));
  if (rates.length === 0 || rates.some((r) => !Number.isInteger(r) || r <= 0)) {
    problems.push(`BENCH_SIDECAR_RATES=${raw}: must be positive integers, comma-separated`);
    return [50, 500];
  }
  return rates;
}

function parseIdleBroker(raw: string | undefined, problems: string[]): 'private' | 'shared' {
  if (raw === undefined || raw.trim() === '' || raw === 'private') return 'private';
  if (raw === 'shared') return 'shared';
  problems.push(`BENCH_IDLE_BROKER=${raw}: must be private or shared`);
  return 'private';
}

export function readConfig(env: NodeJS.ProcessEnv, repoRoot: string): BenchConfig {
  const problems: string[] = [];
  const quick = env['BENCH_QUICK'] === '1' || env['BENCH_QUICK'] === 'true';
  const scale = parseNumber('BENCH_SCALE', env['BENCH_SCALE'], quick ? 0.05 : 1, problems, (n) => n > 0 && n <= 10, 'a number in (0, 10]');
  const positiveInt = (n: number): boolean => Number.isInteger(n) && n > 0;
  const brokerRaw = env['BENCH_BROKER'] ?? '127.0.0.1:5672';
  const brokerMatch = /^([\w.-]+):(\d+)$/.exec(brokerRaw);
  if (!brokerMatch) problems.push(`BENCH_BROKER=${brokerRaw}: must be host:port`);
  const config: BenchConfig = {
    scale,
    targets: parseList('BENCH_TARGETS', env['BENCH_TARGETS'], TARGET_IDS, problems),
    workloads: parseList('BENCH_WORKLOADS', env['BENCH_WORKLOADS'], WORKLOAD_IDS, problems),
    rounds: parseNumber('BENCH_ROUNDS', env['BENCH_ROUNDS'], 1, problems, positiveInt, 'a positive integer'),
    broker: brokerMatch ? { host: brokerMatch[1]!, port: Number(brokerMatch[2]) } : { host: '127.0.0.1', port: 5672 },
    brokerUser: env['BENCH_BROKER_USER'] ?? 'guest',
    brokerPassword: env['BENCH_BROKER_PASSWORD'] ?? 'guest',
    latencyRate: parseNumber('BENCH_LATENCY_RATE', env['BENCH_LATENCY_RATE'], 500, problems, positiveInt, 'a positive integer'),
    latencySeconds: parseNumber('BENCH_LATENCY_SECONDS', env['BENCH_LATENCY_SECONDS'], Math.max(4, 20 * scale), problems, (n) => n > 0, 'positive'),
    mixedRate: parseNumber('BENCH_MIXED_RATE', env['BENCH_MIXED_RATE'], 2000, problems, positiveInt, 'a positive integer'),
    mixedSeconds: parseNumber('BENCH_MIXED_SECONDS', env['BENCH_MIXED_SECONDS'], Math.max(4, 20 * scale), problems, (n) => n > 0, 'positive'),
    idleConnections: parseNumber('BENCH_IDLE_CONNECTIONS', env['BENCH_IDLE_CONNECTIONS'], 1000, problems, positiveInt, 'a positive integer'),
    idleBroker: parseIdleBroker(env['BENCH_IDLE_BROKER'], problems),
    fanInConnections: parseNumber('BENCH_FANIN_CONNECTIONS', env['BENCH_FANIN_CONNECTIONS'], 200, problems, positiveInt, 'a positive integer'),
    outDir: env['BENCH_OUT'] ?? `${repoRoot}/bench/results`,
    profile: env['BENCH_PROFILE'] === '1' || env['BENCH_PROFILE'] === 'true',
    sidecar: {
      rounds: parseNumber('BENCH_SIDECAR_ROUNDS', env['BENCH_SIDECAR_ROUNDS'], quick ? 2 : 5, problems, positiveInt, 'a positive integer'),
      settleSeconds: parseNumber('BENCH_SIDECAR_SETTLE_SECONDS', env['BENCH_SIDECAR_SETTLE_SECONDS'], quick ? 2 : 3, problems, (n) => n >= 0, 'zero or more'),
      idleSeconds: parseNumber('BENCH_SIDECAR_IDLE_SECONDS', env['BENCH_SIDECAR_IDLE_SECONDS'], quick ? 3 : 10, problems, (n) => n > 0, 'positive'),
      warmupSeconds: parseNumber('BENCH_SIDECAR_WARMUP_SECONDS', env['BENCH_SIDECAR_WARMUP_SECONDS'], quick ? 3 : 15, problems, (n) => n >= 0, 'zero or more'),
      rates: parseRates(env['BENCH_SIDECAR_RATES'], problems),
      rateSeconds: parseNumber('BENCH_SIDECAR_SECONDS', env['BENCH_SIDECAR_SECONDS'], quick ? 4 : 12, problems, (n) => n > 0, 'positive'),
    },
  };
  if (config.targets.length === 0) problems.push('BENCH_TARGETS selects no target');
  if (config.workloads.length === 0) problems.push('BENCH_WORKLOADS selects no workload');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
