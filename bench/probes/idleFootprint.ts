/**
 * Idle CPU and RSS of several builds or settings of the proxy side by side (issue 24): every
 * variant is started at once, left `SECONDS` with no client, then its CPU (schedstat, ns)
 * and VmRSS read; `ROUNDS` times, the start order reversed every other round. Each variant
 * is `label|DIST|ARG...`: `DIST` a dist/ directory (or `relay` for bench/relay.ts), each
 * `ARG` either a node flag (`--max-semi-space-size=2`) or an environment setting
 * (`ADMIN_LISTEN=127.0.0.1:0`). The proxies trace at 10 % and export to the bench's OTLP
 * sink, metrics on a free port, admin off, as `make bench` runs them. docs/PERFORMANCE.md
 * (the sidecar, issue 24) records what it measured:
 *
 *   npx tsc -p bench/tsconfig.json --outDir /tmp/bench-build   # relay.js and otlpSink.js
 *   BENCH_BUILD=/tmp/bench-build npx tsx bench/probes/idleFootprint.ts 15 4 'relay|relay' \
 *     'before|/tmp/before/dist' 'after|dist' 'after, semi 2|dist|--max-semi-space-size=2'
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../tools/freePort';
import { proxyEnv, startBuiltSink } from './probeProcesses';
import { readCpu, readMemory } from '../lib/procfs';

interface Variant {
  label: string;
  dist: string;
  flags: string[];
  env: Record<string, string>;
}

const SETTLE_MS = 4000;

function parseVariant(spec: string): Variant {
  const [label, dist, ...args] = spec.split('|');
  if (!label || !dist) throw new Error(`variant "${spec}": expected label|DIST|ARG...`);
  const env: Record<string, string> = {};
  for (const arg of args.filter((a) => !a.startsWith('--'))) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new Error(`variant "${spec}": "${arg}" is neither --flag nor NAME=value`);
    env[arg.slice(0, eq)] = arg.slice(eq + 1);
  }
  return { label, dist: dist === 'relay' ? dist : resolve(dist), flags: args.filter((a) => a.startsWith('--')), env };
}

async function start(v: Variant, build: string, sinkPort: number): Promise<ChildProcess> {
  const port = await freePort();
  if (v.dist === 'relay') return spawn(process.execPath, [join(build, 'relay.js'), `127.0.0.1:${port}`, '127.0.0.1:5672'], { stdio: 'ignore' });
  return spawn(process.execPath, [...v.flags, join(v.dist, 'main.js')], { env: await proxyEnv(port, sinkPort, v.env), stdio: 'ignore' });
}

async function main(): Promise<void> {
  const [secondsArg, roundsArg, ...specs] = process.argv.slice(2);
  const seconds = Number(secondsArg);
  const rounds = Number(roundsArg);
  if (!(seconds > 0) || !(rounds > 0) || specs.length === 0) throw new Error('usage: idleFootprint.ts SECONDS ROUNDS label|DIST|ARG...');
  const build = process.env['BENCH_BUILD'] ?? '/tmp/bench-build';
  const variants = specs.map(parseVariant);
  const sink = await startBuiltSink(build);
  const children: ChildProcess[] = [];
  const results = new Map<string, { cpuMsPerSec: number; rssMb: number }[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 1 ? [...variants].reverse() : variants;
      const running = await Promise.all(order.map(async (v) => ({ v, child: await start(v, build, sink.port) })));
      children.push(...running.map((r) => r.child));
      await sleep(SETTLE_MS);
      const before = running.map((r) => readCpu(r.child.pid!));
      await sleep(seconds * 1000);
      running.forEach((r, i) => {
        const after = readCpu(r.child.pid!);
        const memory = readMemory(r.child.pid!);
        const list = results.get(r.v.label) ?? [];
        list.push({ cpuMsPerSec: after && before[i] ? (after.schedUs - before[i]!.schedUs) / 1000 / seconds : Number.NaN, rssMb: memory ? memory.rssKb / 1024 : Number.NaN });
        results.set(r.v.label, list);
      });
      for (const r of running) r.child.kill('SIGKILL');
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    sink.child.kill();
  }
  const width = Math.max(...variants.map((v) => v.label.length));
  for (const v of variants) {
    const list = results.get(v.label) ?? [];
    process.stdout.write(`${v.label.padEnd(width)}  CPU ms/s ${list.map((r) => r.cpuMsPerSec.toFixed(2)).join(' ')}   RSS MB ${list.map((r) => r.rssMb.toFixed(1)).join(' ')}\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
