/**
 * Hermetic tests of the harness's pure parts: statistics, settings, the haproxy config,
 * the sink's span counter, the verdicts and the chart. Run: npx uvu -r tsx/cjs bench/test
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, readConfig } from '../lib/config';
import { haproxyConfig } from '../lib/haproxy';
import type { MachineInfo } from '../lib/machine';
import { markdownReport, verdicts } from '../lib/report';
import type { BenchResults, ResultRow } from '../lib/results';
import { listeningInodes } from '../lib/procfs';
import { SIDECAR_GOALS, sidecarCell, sidecarVerdicts, spreadOf, spreadText } from '../lib/sidecar';
import { linearFit, median, quantileSorted } from '../lib/stats';
import { chartSvg, niceMax } from '../lib/svg';
import type { Measurement, SidecarMeasurement } from '../lib/workloads';
import { countSpans } from '../otlpSink';

test('quantileSorted takes the nearest rank, never interpolating', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.is(quantileSorted(hundred, 0.5), 50);
  assert.is(quantileSorted(hundred, 0.99), 99);
  assert.is(quantileSorted(hundred, 0.999), 100);
  assert.is(quantileSorted([7], 0.999), 7);
  assert.ok(Number.isNaN(quantileSorted([], 0.5)));
});

test('median ignores values that are not finite', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, Number.NaN, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('linearFit recovers a line, for extrapolating RSS to 1,000 connections', () => {
  const fit = linearFit([0, 250, 500, 750].map((x) => ({ x, y: 40 + 0.02 * x })));
  assert.ok(Math.abs(fit.slope - 0.02) < 1e-12);
  assert.ok(Math.abs(fit.intercept + fit.slope * 1000 - 60) < 1e-9);
});

test('readConfig: defaults are the issue sizes and every target', () => {
  const cfg = readConfig({}, '/repo');
  assert.is(cfg.scale, 1);
  assert.equal(cfg.targets, ['direct', 'otel10', 'otel100', 'relay', 'haproxy', 'bypass', 'trace10', 'trace10-no-outcome', 'trace100']);
  assert.is(cfg.mixedRate, 2000);
  assert.is(cfg.idleBroker, 'private');
  assert.is(cfg.idleConnections, 1000);
  assert.is(cfg.latencySeconds, 20);
  assert.is(cfg.outDir, '/repo/bench/results');
});

test('readConfig: quick mode is scale 0.05 unless BENCH_SCALE says otherwise; lists keep canonical order', () => {
  assert.is(readConfig({ BENCH_QUICK: '1' }, '/r').scale, 0.05);
  assert.is(readConfig({ BENCH_QUICK: '1', BENCH_SCALE: '0.2' }, '/r').scale, 0.2);
  assert.equal(readConfig({ BENCH_TARGETS: 'haproxy, direct' }, '/r').targets, ['direct', 'haproxy']);
});

test('readConfig: reports every problem at once', () => {
  try {
    readConfig({ BENCH_TARGETS: 'relay,nginx', BENCH_SCALE: 'big', BENCH_ROUNDS: '0', BENCH_BROKER: 'localhost' }, '/r');
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const word of ['nginx', 'BENCH_SCALE', 'BENCH_ROUNDS', 'BENCH_BROKER']) assert.ok(problems.includes(word), word);
  }
});

test('haproxyConfig: TCP mode, loopback listener, room for 1,000+ connections', () => {
  const cfg = haproxyConfig({ listenPort: 15673, upstreamHost: '127.0.0.1', upstreamPort: 5672, maxconn: 8192 });
  assert.match(cfg, /^\s+mode tcp$/m);
  assert.match(cfg, /^\s+bind 127\.0\.0\.1:15673$/m);
  assert.match(cfg, /^\s+server \S+ 127\.0\.0\.1:5672$/m);
  assert.match(cfg, /^\s+maxconn 8192$/m);
  assert.not.match(cfg, /0\.0\.0\.0/);
});

/** Protobuf length-delimited field: key (field << 3 | 2), varint length, bytes. */
function field(n: number, body: Buffer): Buffer {
  const len: number[] = [];
  let v = body.length;
  do {
    len.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>>= 7;
  } while (v > 0);
  return Buffer.concat([Buffer.from([(n << 3) | 2, ...len]), body]);
}

test('countSpans walks ExportTraceServiceRequest > ResourceSpans > ScopeSpans > Span', () => {
  const span = field(1, Buffer.alloc(16)); // trace_id inside a span: not a span itself
  const scope = field(1, field(1, Buffer.from('scope-name')));
  const scopeSpans = field(2, Buffer.concat([scope, field(2, span), field(2, span), Buffer.from([0x18, 0x01])]));
  const resource = field(1, Buffer.alloc(0));
  const request = Buffer.concat([field(1, Buffer.concat([resource, scopeSpans, scopeSpans])), field(1, scopeSpans.subarray(0, 0))]);
  assert.is(countSpans(request), 4);
  assert.is(countSpans(Buffer.alloc(0)), 0);
  assert.throws(() => countSpans(request.subarray(0, request.length - 3)));
});

test('listeningInodes finds the LISTEN sockets of one port in /proc/net/tcp and tcp6 tables', () => {
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const tcp = [
    header,
    '   0: 0100007F:1628 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 31337 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:1628 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   106        0 40000 1 0000000000000000 20 4 30 10 -1',
    '   2: 0100007F:1629 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 50000 1 0000000000000000 100 0 0 10 0',
  ].join('\n');
  const tcp6 = [header, '   0: 00000000000000000000000000000000:1628 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 31338 1 0 100 0 0 10 0'].join('\n');
  assert.equal([...listeningInodes(5672, [tcp, tcp6])], ['31337', '31338']);
  assert.is(listeningInodes(5673, [tcp]).size, 1);
  assert.is(listeningInodes(15672, [tcp]).size, 0);
});

test('niceMax gives four round steps', () => {
  assert.is(niceMax(37000), 40000);
  assert.is(niceMax(9), 10);
  assert.is(niceMax(0.3), 0.4);
  assert.is(niceMax(0), 1);
});

const machine: MachineInfo = {
  cpuModel: 'test cpu',
  cores: 2,
  memoryGb: 4,
  kernel: '6',
  node: 'v20',
  rabbitmq: '3.10',
  haproxy: 'HAProxy 2.6',
  gitCommit: 'abc',
};

function row(workload: ResultRow['workload'], target: ResultRow['target'], m: Measurement): ResultRow {
  return { round: 1, workload, target, status: 'ok', measurement: m };
}

function results(rows: ResultRow[]): BenchResults {
  return {
    schema: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:10:00.000Z',
    durationSeconds: 600,
    command: 'npx tsx bench/run.ts',
    config: readConfig({}, '/r'),
    machine,
    targets: {
      direct: { label: 'broker direct', describe: '', available: true },
      relay: { label: 'Node relay', describe: '', available: true },
      trace10: { label: 'proxy trace 10%', describe: '', available: true },
    },
    workloads: { 'throughput-1k': { title: 'Throughput, 1 KiB', describe: '' }, latency: { title: 'Latency', describe: '' } },
    rows,
    verdicts: verdicts(rows),
  };
}

test('verdicts: met, not met and not measured', () => {
  const rows = [
    row('throughput-1k', 'relay', { msgsPerSec: 20000, targetCpuUsPerMsg: 5 }),
    row('throughput-1k', 'trace10', { msgsPerSec: 19500, targetCpuUsPerMsg: 11 }),
    row('latency', 'relay', { latency: { count: 1, p50Ms: 0.3, p99Ms: 1, p999Ms: 2, maxMs: 2, meanMs: 0.4 } }),
    row('latency', 'trace10', { latency: { count: 1, p50Ms: 0.34, p99Ms: 1.6, p999Ms: 2, maxMs: 2, meanMs: 0.4 } }),
  ];
  assert.equal(
    verdicts(rows).map((v) => v.status),
    [
      'not met', // CPU at 10 %: 11 > 2.0 × 5
      'not measured', // CPU at 100 %
      'not measured', // bypass 1 KiB
      'not measured', // bypass 16 KiB
      'not measured', // system CPU vs in-process, 10 %
      'not measured', // throughput vs in-process, 10 %
      'not measured', // system CPU vs in-process, 100 %
      'not measured', // throughput vs in-process, 100 %
      'met', // throughput 1 KiB ≥ 95 % of the relay
      'not measured', // throughput 16 KiB
      'met', // p50
      'not met', // p99
      'not measured', // mixed
      'not measured', // RSS
    ],
  );
});

test('verdicts: system CPU adds clients, middle hop and broker; in-process targets have no middle hop', () => {
  const rows = [
    row('throughput-1k', 'trace10', { msgsPerSec: 9000, targetCpuUsPerMsg: 20, clientCpuUsPerMsg: 40, brokerCpuUsPerMsg: 50 }),
    row('throughput-1k', 'otel10', { msgsPerSec: 8000, clientCpuUsPerMsg: 100, brokerCpuUsPerMsg: 55 }),
    row('throughput-1k', 'trace100', { msgsPerSec: 7000, targetCpuUsPerMsg: 60, clientCpuUsPerMsg: 40, brokerCpuUsPerMsg: 60 }),
    row('throughput-1k', 'otel100', { msgsPerSec: 7500, clientCpuUsPerMsg: 90, brokerCpuUsPerMsg: 60 }),
  ];
  const byName = new Map(verdicts(rows).map((v) => [v.target, v]));
  const find = (words: string): NonNullable<ReturnType<typeof byName.get>> => [...byName.values()].find((v) => v.target.startsWith(words))!;
  assert.is(find('System CPU per message, proxy tracing at 10%').status, 'met'); // 110 < 155
  assert.match(find('System CPU per message, proxy tracing at 10%').detail, /110\.0 µs vs 155\.0 µs/);
  assert.is(find('System CPU per message, proxy tracing at 100%').status, 'not met'); // 160 vs 150
  assert.is(find('Throughput, proxy tracing at 10%').status, 'met');
  assert.is(find('Throughput, proxy tracing at 100%').status, 'not met');
});

test('verdicts: RSS extrapolated from fewer connections is not a measurement', () => {
  const idle = (opened: number, rss: number): Measurement => ({
    idle: { requested: 1000, opened, cappedBecause: undefined, baselineRssMb: 60, points: [], rssAtRequestedMb: rss, extrapolated: opened < 1000, kbPerConnection: 20 },
  });
  const rssVerdict = (m: Measurement) => verdicts([row('idle', 'trace10', m)]).find((v) => v.target.startsWith('RSS'))!;
  assert.is(rssVerdict(idle(700, 86)).status, 'not measured');
  assert.is(rssVerdict(idle(1000, 86)).status, 'met');
  assert.is(rssVerdict(idle(1000, 120)).status, 'not met');
});

test('markdownReport and chartSvg render from results alone', () => {
  const r = results([
    row('throughput-1k', 'direct', { msgsPerSec: 25000 }),
    row('throughput-1k', 'relay', { msgsPerSec: 20000, targetCpuUsPerMsg: 5 }),
    { round: 1, workload: 'throughput-1k', target: 'trace10', status: 'failed', error: 'it broke <here>' },
  ]);
  const md = markdownReport(r);
  assert.match(md, /\| Node relay \| 20,000 \| 0\.80× \| 1\.00× \| 5\.00 \|/);
  assert.match(md, /system CPU µs\/msg/);
  assert.match(md, /failed: it broke <here>/);
  const svg = chartSvg(r);
  assert.match(svg, /^<svg /);
  assert.not.match(svg, /<here>/);
});

test('readConfig: the sidecar workload has its own rounds (5, quick 2) and rates 50 and 500', () => {
  const full = readConfig({}, '/r');
  assert.ok(full.workloads.includes('sidecar'));
  assert.is(full.sidecar.rounds, 5);
  assert.equal(full.sidecar.rates, [50, 500]);
  const quick = readConfig({ BENCH_QUICK: '1' }, '/r').sidecar;
  assert.is(quick.rounds, 2);
  assert.ok(quick.rateSeconds < full.sidecar.rateSeconds && quick.idleSeconds < full.sidecar.idleSeconds);
  assert.is(full.sidecar.warmupSeconds, 15);
  assert.ok(quick.warmupSeconds < full.sidecar.warmupSeconds);
  assert.is(readConfig({ BENCH_SIDECAR_WARMUP_SECONDS: '0' }, '/r').sidecar.warmupSeconds, 0);
  assert.throws(() => readConfig({ BENCH_SIDECAR_WARMUP_SECONDS: '-1' }, '/r'), /BENCH_SIDECAR_WARMUP_SECONDS/);
  assert.equal(readConfig({ BENCH_SIDECAR_RATES: '100, 1000', BENCH_SIDECAR_ROUNDS: '7' }, '/r').sidecar, { ...full.sidecar, rates: [100, 1000], rounds: 7 });
  try {
    readConfig({ BENCH_SIDECAR_RATES: '50,fast', BENCH_SIDECAR_ROUNDS: '0' }, '/r');
    assert.unreachable('should have thrown');
  } catch (err) {
    const problems = (err as ConfigError).problems.join('\n');
    assert.match(problems, /BENCH_SIDECAR_RATES/);
    assert.match(problems, /BENCH_SIDECAR_ROUNDS/);
  }
});

test('spreadOf and spreadText: the median with the lowest and highest round', () => {
  assert.equal(spreadOf([3, undefined, 1, 2, Number.NaN, 10]), { median: 2.5, min: 1, max: 10, n: 4 });
  assert.is(spreadOf([undefined]), undefined);
  assert.is(spreadText(spreadOf([0.5, 0.61, 0.54]), 2), '0.54 (0.50–0.61)');
  assert.is(spreadText(spreadOf([1234.5]), 1), '1,234.5');
  assert.is(spreadText(undefined, 1), '—');
});

/** One round of the sidecar workload: idle, then 50 and 500 msg/s. */
function sidecarRow(target: ResultRow['target'], round: number, s: { idleRss: number; idleCpu: number; cpu500: number; p99: number; p999: number }): ResultRow {
  const latency = (p99: number, p999: number) => ({ count: 1000, p50Ms: 0.5, p99Ms: p99, p999Ms: p999, maxMs: p999, meanMs: 0.6 });
  const sidecar: SidecarMeasurement = {
    idleSeconds: 10,
    idleCpuMsPerSec: s.idleCpu,
    idleRssMb: s.idleRss,
    loadAverage: 2 + round / 10,
    phases: [
      { rate: 50, messages: 600, cpuUsPerMsg: 2 * s.cpu500, statUsPerMsg: 2 * s.cpu500, latency: latency(s.p99, s.p999), rssMb: s.idleRss + 1 },
      { rate: 500, messages: 6000, cpuUsPerMsg: s.cpu500, statUsPerMsg: s.cpu500, latency: latency(s.p99, s.p999), rssMb: s.idleRss + 5 },
    ],
  };
  return { round, workload: 'sidecar', target, status: 'ok', measurement: { peakRssMb: s.idleRss + 6, sidecar } };
}

test('sidecarCell: medians and spreads per rate over the rounds that succeeded', () => {
  const rows = [
    sidecarRow('trace10', 1, { idleRss: 58, idleCpu: 0.4, cpu500: 200, p99: 2, p999: 5 }),
    sidecarRow('trace10', 2, { idleRss: 62, idleCpu: 0.9, cpu500: 240, p99: 3, p999: 6 }),
    sidecarRow('trace10', 3, { idleRss: 59, idleCpu: 0.5, cpu500: 210, p99: 9, p999: 30 }),
    { round: 4, workload: 'sidecar', target: 'trace10', status: 'failed', error: 'x' },
  ] as ResultRow[];
  const cell = sidecarCell(rows, 'trace10');
  assert.is(cell.rounds, 3);
  assert.equal(cell.idleRssMb, { median: 59, min: 58, max: 62, n: 3 });
  assert.equal(cell.rates.map((r) => r.rate), [50, 500]);
  assert.equal(cell.rates[1]!.cpuUsPerMsg, { median: 210, min: 200, max: 240, n: 3 });
  assert.equal(cell.rates[1]!.p99Ms, { median: 3, min: 2, max: 9, n: 3 });
  assert.is(sidecarCell(rows, 'relay').status, 'not run');
});

test('sidecarVerdicts: each of issue 24\'s targets met, missed, or not measured', () => {
  const relay = { idleRss: 42, idleCpu: 0, cpu500: 150, p99: 2, p999: 5 };
  const good = { idleRss: 55, idleCpu: 0.6, cpu500: 190, p99: 2.4, p999: 6.9 };
  const bad = { idleRss: 72, idleCpu: 4.3, cpu500: 380, p99: 2.6, p999: 7.1 };
  const statuses = (proxy: typeof good): string[] =>
    sidecarVerdicts([sidecarRow('relay', 1, relay), sidecarRow('trace10', 1, proxy)]).map((v) => v.status);
  assert.equal(statuses(good), ['met', 'met', 'met', 'met', 'met']);
  // 380 > 1.3 × 150; p99 +0.6 > 0.5; p99.9 +2.1 > 2
  assert.equal(statuses(bad), ['not met', 'not met', 'not met', 'not met', 'not met']);
  const alone = sidecarVerdicts([sidecarRow('trace10', 1, good)]);
  assert.equal(alone.map((v) => v.status), ['met', 'met', 'not measured', 'not measured', 'not measured']);
  assert.match(alone[2]!.detail, /relay sidecar: not run/);
  const cpu = sidecarVerdicts([sidecarRow('relay', 1, relay), sidecarRow('trace10', 1, bad)])[2]!;
  assert.match(cpu.target, new RegExp(`at ${SIDECAR_GOALS.rate} msg/s`));
  assert.match(cpu.detail, /380\.0 µs vs 150\.0 µs = 2\.53×/);
});

test('markdownReport renders the sidecar file: idle and per-rate tables with spreads, issue 24 verdicts, its own rounds', () => {
  const rows = [1, 2].flatMap((round) => [
    sidecarRow('relay', round, { idleRss: 42, idleCpu: 0, cpu500: 150 + round, p99: 2, p999: 5 }),
    sidecarRow('trace10', round, { idleRss: 70 + round, idleCpu: 4, cpu500: 380, p99: 3, p999: 8 }),
  ]);
  const r: BenchResults = {
    ...results([]),
    suite: 'sidecar',
    plannedRounds: 5,
    roundsCompleted: 2,
    workloads: { sidecar: { title: 'The sidecar', describe: 'idle, then rates' } },
    rows,
    verdicts: sidecarVerdicts(rows),
  };
  const md = markdownReport(r);
  assert.match(md, /2 of 5 rounds/);
  assert.match(md, /#### Idle/);
  assert.match(md, /\| proxy trace 10% \| 71\.5 \(71\.0–72\.0\) \| 4\.00 \(4\.00–4\.00\) \|/);
  assert.match(md, /#### At 500 msg\/s/);
  assert.match(md, /\| Node relay \| 151\.5 \(151\.0–152\.0\) \| 1\.00× \|/);
  assert.match(md, /\| proxy trace 10% \| 380\.0 \(380\.0–380\.0\) \| 2\.51× \| 0\.500 \(0\.500–0\.500\) \| 3\.000 \(3\.000–3\.000\) \| 8\.000 \(8\.000–8\.000\) \| \+1\.000 \| \+3\.000 \|/);
  assert.match(md, /load average .*: 2\.15 \(2\.10–2\.20\)/);
  assert.match(md, /### Targets \(issue 24\)/);
  assert.match(md, /NOT MET: Idle RSS, tracing at 10%, ≤ 60 MB: 71\.5 \(71\.0–72\.0\) MB/);
  assert.not.match(md, /system CPU/);
});

test.run();
