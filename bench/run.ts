/**
 * Issue 8's benchmark: the same workloads against the broker directly, an opaque Node
 * relay, haproxy, and the proxy in three modes, in one run, on one machine.
 *
 *   npx tsx bench/run.ts                 full size (200,000 messages per throughput workload)
 *   BENCH_QUICK=1 npx tsx bench/run.ts   5% of that, for development
 *   BENCH_TARGETS=direct,relay,haproxy   pick targets; BENCH_WORKLOADS=latency,idle likewise
 *
 * Prints Markdown tables and the issue's targets (met / not met) on stdout, progress on
 * stderr, and writes bench/results/latest.{json,svg,md}. See docs/BENCHMARK.md.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BrokerAdmin, amqpUrl, probeHandshake } from './lib/broker';
import { killAllNow, setModulesDir, stopAll } from './lib/children';
import { ConfigError, hasMiddleHop, isSidecarWorkload, readConfig, type BenchConfig, type TargetId, type WorkloadId } from './lib/config';
import { findHaproxy } from './lib/haproxy';
import { machineInfo } from './lib/machine';
import { startSecondBroker, type SecondBroker } from '../tools/privateBroker';
import { findPidListeningOn } from './lib/procfs';
import { summariseProfiles } from './lib/profile';
import { ensureProxyBuilt } from './lib/proxyBuild';
import { markdownReport, verdictLines, verdicts } from './lib/report';
import { sidecarVerdicts } from './lib/sidecar';
import type { BenchResults, ResultRow, TargetInfo } from './lib/results';
import { SinkHandle } from './lib/sink';
import { chartSvg } from './lib/svg';
import { TARGETS, isProxyTarget, type TargetContext } from './lib/targets';
import { WORKLOADS, runFlow, runIdle, runSidecar, type Measurement, type RunEnv } from './lib/workloads';

const repoRoot = resolve(__dirname, '..');
/** Set once connected, so an interrupted run can still delete its queues. */
let adminForCleanup: BrokerAdmin | undefined;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * The bench scripts are compiled, and the proxy's dist/ copied, into the run's own
 * directory: the work tree may be rebuilt or cleaned by someone else while a run goes on,
 * and every round must measure the same code.
 */
function compileBench(buildDir: string): Promise<void> {
  return new Promise((done, fail) => {
    const args = ['-p', join(repoRoot, 'bench', 'tsconfig.json'), '--outDir', buildDir];
    execFile(join(repoRoot, 'node_modules', '.bin', 'tsc'), args, { cwd: repoRoot }, (err, stdout, stderr) => {
      if (err) fail(new Error(`compiling bench/ failed:\n${stdout}${stderr}`));
      else done();
    });
  });
}

function commandLine(): string {
  const vars = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  return [...vars, 'npx tsx bench/run.ts'].join(' ');
}

async function checkAvailability(ctx: TargetContext, id: TargetId, cfg: BenchConfig): Promise<TargetInfo> {
  const spec = TARGETS[id];
  const base = { label: spec.label, describe: spec.describe };
  try {
    const target = await spec.start(ctx, `${id}.probe`);
    try {
      await probeHandshake(amqpUrl('127.0.0.1', target.port, cfg.brokerUser, cfg.brokerPassword), 10000);
    } finally {
      await target.stop();
    }
    return { ...base, available: true };
  } catch (err) {
    return { ...base, available: false, reason: (err as Error).message.replace(/\s+/g, ' ') };
  }
}

function progressLine(w: WorkloadId, t: TargetId, m: Measurement): string {
  const parts: string[] = [];
  if (m.msgsPerSec !== undefined) parts.push(`${Math.round(m.msgsPerSec).toLocaleString('en-US')} msgs/s`);
  if (m.latency) parts.push(`p50 ${m.latency.p50Ms.toFixed(3)} p99 ${m.latency.p99Ms.toFixed(3)} p99.9 ${m.latency.p999Ms.toFixed(3)} ms`);
  if (m.targetCpuUsPerMsg !== undefined) parts.push(`${m.targetCpuUsPerMsg.toFixed(2)} µs CPU/msg`);
  if (m.peakRssMb !== undefined) parts.push(`peak RSS ${m.peakRssMb.toFixed(1)} MB`);
  if (m.spans) parts.push(`${m.spans.spans} spans exported`);
  if (m.idle) parts.push(`RSS ${m.idle.rssAtRequestedMb.toFixed(1)} MB at ${m.idle.requested} connections (${m.idle.extrapolated ? `extrapolated from ${m.idle.opened}` : 'measured'})`);
  if (m.sidecar) {
    const s = m.sidecar;
    parts.push(`idle ${s.idleCpuMsPerSec.toFixed(2)} ms/s CPU, RSS ${s.idleRssMb.toFixed(1)} MB`);
    for (const p of s.phases) {
      const l = p.latency;
      parts.push(`${p.rate}/s: ${p.cpuUsPerMsg?.toFixed(1) ?? '—'} µs CPU/msg${l ? `, p50 ${l.p50Ms.toFixed(3)} p99 ${l.p99Ms.toFixed(3)} p99.9 ${l.p999Ms.toFixed(3)} ms` : ''}, RSS ${p.rssMb?.toFixed(1) ?? '—'} MB`);
    }
  }
  return `  ${w} × ${t}: ${parts.join(', ')}`;
}

async function main(): Promise<number> {
  const started = new Date();
  let cfg: BenchConfig;
  try {
    cfg = readConfig(process.env, repoRoot);
  } catch (err) {
    if (err instanceof ConfigError) {
      log(err.message);
      return 2;
    }
    throw err;
  }
  const runDir = mkdtempSync(join(tmpdir(), 'amqp-bench-'));
  const buildDir = join(runDir, 'build');
  setModulesDir(join(repoRoot, 'node_modules'));
  const runId = started.toISOString().replace(/[-:]/g, '').slice(0, 15) + `.${process.pid}`;
  log(`bench: scale ${cfg.scale}, targets ${cfg.targets.join(',')}, workloads ${cfg.workloads.join(',')}, logs in ${runDir}`);

  await compileBench(buildDir);
  const admin = await BrokerAdmin.open(amqpUrl(cfg.broker.host, cfg.broker.port, cfg.brokerUser, cfg.brokerPassword));
  adminForCleanup = admin;
  let sink: SinkHandle | undefined;
  let idleNode: SecondBroker | undefined;
  try {
    const haproxy = findHaproxy();
    const wantsProxy = cfg.targets.some(isProxyTarget);
    const build = wantsProxy ? await ensureProxyBuilt(repoRoot, join(runDir, 'build.log')) : undefined;
    if (build) log(`bench: proxy ${build.ok ? build.note : build.reason}`);
    if (cfg.targets.some((t) => TARGETS[t].exportsSpans) && build?.ok) {
      sink = await SinkHandle.start(buildDir, runDir);
      log(`bench: OTLP sink on 127.0.0.1:${sink.port}`);
    }
    const proxyMain = join(runDir, 'proxy', 'dist', 'main.js');
    if (build?.ok && existsSync(join(repoRoot, 'dist'))) cpSync(join(repoRoot, 'dist'), join(runDir, 'proxy', 'dist'), { recursive: true });
    const profileDir = cfg.profile ? join(runDir, 'profiles') : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    const ctx: TargetContext = { repoRoot, buildDir, runDir, broker: cfg.broker, haproxyPath: haproxy?.path, sinkPort: sink?.port, profileDir, proxyMain };

    const targets: Partial<Record<TargetId, TargetInfo>> = {};
    for (const id of cfg.targets) {
      if (isProxyTarget(id) && build && !build.ok) {
        targets[id] = { label: TARGETS[id].label, describe: TARGETS[id].describe, available: false, reason: build.reason };
      } else {
        targets[id] = await checkAvailability(ctx, id, cfg);
      }
      const info = targets[id]!;
      log(`bench: ${id}: ${info.available ? 'available' : `unavailable: ${info.reason}`}`);
    }

    // The shared broker accepts about 830 sockets (Debian's 1,024 open files): 1,000 idle
    // connections are measured against a private node with a higher limit.
    let idleCtx = ctx;
    if (cfg.workloads.includes('idle') && cfg.idleBroker === 'private' && cfg.targets.some(hasMiddleHop)) {
      try {
        idleNode = await startSecondBroker();
        idleCtx = { ...ctx, broker: { host: '127.0.0.1', port: idleNode.port } };
        log(`bench: private RabbitMQ node ${idleNode.nodeName} on 127.0.0.1:${idleNode.port} for the idle workload (started in ${idleNode.startupMs} ms)`);
      } catch (err) {
        log(`bench: no private RabbitMQ node (${(err as Error).message.split('\n')[0]}); the idle workload uses the shared broker`);
      }
    }
    const brokerPid = findPidListeningOn('beam.smp', cfg.broker.port);
    if (brokerPid === undefined) log(`bench: no beam.smp listening on port ${cfg.broker.port} found: broker and system CPU will be missing`);
    const env: RunEnv = { cfg, buildDir, runDir, runId, admin, brokerPid, sink, idleBrokerIsPrivate: idleNode !== undefined };
    const rows: ResultRow[] = [];
    const machine = machineInfo(repoRoot, admin.version, haproxy?.version ?? 'haproxy not installed');
    /**
     * Results so far, written after every round: a multi-round run that is stopped (or runs
     * out of time) still leaves the medians of the rounds it completed.
     */
    const roundsOf = (w: WorkloadId): number => (isSidecarWorkload(w) ? cfg.sidecar.rounds : cfg.rounds);
    const totalRounds = Math.max(...cfg.workloads.map(roundsOf));
    /**
     * The flat-out workloads go to latest.*, the sidecar workload to sidecar.*, each file
     * written only when its workloads ran: a sidecar-only run leaves latest.* as it was.
     */
    const writeResults = (roundsCompleted: number): BenchResults[] => {
      const finished = new Date();
      const written: BenchResults[] = [];
      for (const suite of ['flat-out', 'sidecar'] as const) {
        const workloads = cfg.workloads.filter((w) => isSidecarWorkload(w) === (suite === 'sidecar'));
        if (workloads.length === 0) continue;
        const mine = rows.filter((r) => workloads.includes(r.workload));
        const planned = Math.max(...workloads.map(roundsOf));
        const results: BenchResults = {
          schema: 1,
          startedAt: started.toISOString(),
          finishedAt: finished.toISOString(),
          durationSeconds: (finished.getTime() - started.getTime()) / 1000,
          command: commandLine(),
          config: cfg,
          roundsCompleted: Math.min(roundsCompleted, planned),
          suite,
          plannedRounds: planned,
          machine,
          targets,
          workloads: Object.fromEntries(workloads.map((w) => [w, { title: WORKLOADS[w].title, describe: WORKLOADS[w].describe(WORKLOADS[w].plan(cfg)) }])),
          rows: mine,
          verdicts: suite === 'sidecar' ? sidecarVerdicts(mine) : verdicts(mine),
        };
        const base = suite === 'sidecar' ? 'sidecar' : 'latest';
        mkdirSync(cfg.outDir, { recursive: true });
        writeFileSync(join(cfg.outDir, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
        if (suite === 'flat-out') writeFileSync(join(cfg.outDir, 'latest.svg'), chartSvg(results));
        writeFileSync(join(cfg.outDir, `${base}.md`), markdownReport(results));
        written.push(results);
      }
      return written;
    };
    for (let round = 1; round <= totalRounds; round++) {
      for (const w of cfg.workloads) {
        if (round > roundsOf(w)) continue;
        const spec = WORKLOADS[w];
        const plan = spec.plan(cfg);
        log(`bench: round ${round}/${roundsOf(w)}, ${spec.title}: ${spec.describe(plan)}`);
        // The sidecar's rounds alternate the targets' order, so that the machine drifting
        // over the run (other work starting or stopping) does not fall on one target.
        const order = isSidecarWorkload(w) && round % 2 === 0 ? [...cfg.targets].reverse() : cfg.targets;
        for (const t of order) {
          const info = targets[t]!;
          if (!info.available) {
            rows.push({ round, workload: w, target: t, status: 'unavailable', error: info.reason ?? 'unavailable' });
            continue;
          }
          if ((plan.kind === 'idle' || plan.kind === 'sidecar') && !hasMiddleHop(t)) {
            rows.push({ round, workload: w, target: t, status: 'not applicable', error: 'no process between client and broker to measure' });
            continue;
          }
          // One retry: on a shared machine a target can be disturbed from outside (another
          // session's test signalling every proxy it finds); both attempts are reported.
          let firstError: string | undefined;
          for (let attempt = 1; attempt <= 2; attempt++) {
            const label = `r${round}.${w}.${t}${attempt > 1 ? '.retry' : ''}`;
            try {
              const target = await TARGETS[t].start(plan.kind === 'idle' ? idleCtx : ctx, label, {
                exportSpans: plan.kind === 'flow' ? plan.exportSpans : true,
                ...(plan.kind === 'sidecar' ? { nodeOptions: plan.proxyNodeOptions } : {}),
              });
              try {
                const measurement =
                  plan.kind === 'idle' ? await runIdle(env, plan, target, label)
                    : plan.kind === 'sidecar' ? await runSidecar(env, plan, TARGETS[t], target, label)
                      : await runFlow(env, plan, TARGETS[t], target, label);
                rows.push({ round, workload: w, target: t, status: 'ok', measurement, ...(firstError ? { error: `first attempt failed: ${firstError}` } : {}) });
                log(progressLine(w, t, measurement));
              } finally {
                await target.stop();
              }
              break;
            } catch (err) {
              const message = (err as Error).message.replace(/\s+/g, ' ');
              log(`  ${w} × ${t}: FAILED${attempt === 1 ? ', retrying' : ''}: ${message}`);
              if (attempt === 1) firstError = message;
              else rows.push({ round, workload: w, target: t, status: 'failed', error: `${message} (first attempt: ${firstError})` });
            }
          }
        }
      }
      if (round < totalRounds) {
        writeResults(round);
        log(`bench: round ${round} done; results so far in ${cfg.outDir}`);
      }
    }

    const written = writeResults(totalRounds);
    for (const results of written) process.stdout.write(markdownReport(results));
    log(`\nbench: done in ${Math.round(written[0]!.durationSeconds)} s; wrote ${written.map((r) => join(cfg.outDir, r.suite === 'sidecar' ? 'sidecar.{json,md}' : 'latest.{json,svg,md}')).join(' and ')}`);
    for (const results of written) log(verdictLines(results.verdicts));
    if (profileDir) {
      const summaries = [...summariseProfiles(profileDir, [join(runDir, 'proxy'), join(runDir, 'build'), repoRoot])].filter(([file]) => !file.includes('.probe.'));
      const text = summaries.map(([file, lines]) => `${file}\n${lines.join('\n')}`).join('\n\n');
      writeFileSync(join(profileDir, 'summary.txt'), `${text}\n`);
      log(`\nbench: CPU profiles (self time, hottest first); open the .cpuprofile files for flame graphs\n\n${text}`);
    }
    const failed = rows.some((r) => r.status === 'failed');
    if (failed || profileDir || process.env['BENCH_KEEP_LOGS'] === '1') log(`bench: logs kept in ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
    return failed ? 1 : 0;
  } finally {
    await idleNode?.stop();
    await sink?.stop();
    await admin.close();
    await stopAll();
  }
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`bench: ${signal}, stopping every process it started`);
    const queues = adminForCleanup ? Promise.race([adminForCleanup.deleteDeclared(), new Promise((r) => setTimeout(r, 3000))]) : Promise.resolve();
    void Promise.all([stopAll(), queues]).finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench: ${err instanceof Error ? err.message : String(err)}`);
    void stopAll().finally(() => process.exit(1));
  },
);
