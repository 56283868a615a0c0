/**
 * What the middle hop ran during its long turns (issue 24's tail): lays the steps that
 * tailTrace.ts kept (TAIL_KEEP) over a `--cpu-prof` profile of the same process. V8 stamps
 * profile samples with the host's monotonic clock in microseconds, the clock the steps are
 * on, so each sample falls inside a step or not. Prints self time by function for the
 * samples inside 'data' handlers longer than MIN_MS, against all samples of the rounds.
 *
 *   TAIL_KEEP=/tmp/tail BENCH_BUILD=/tmp/bench-build npx tsx bench/probes/tailTrace.ts 500 20 3 \
 *     'new|dist|--cpu-prof,--cpu-prof-dir=/tmp/tail,--cpu-prof-interval=100'
 *   npx tsx bench/probes/tailProfile.ts /tmp/tail/CPU.*.cpuprofile 1 /tmp/tail/new.2.json /tmp/tail/new.3.json
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Step {
  what: string;
  at: number;
  ms: number;
}

function where(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*\/(node_modules\/|dist\/)/, '$1').replace(/^node:/, '');
  return `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`;
}

function table(counts: Map<string, number>, total: number, rows: number): string {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rows)
    .map(([name, n]) => `  ${((100 * n) / total).toFixed(1).padStart(5)} %  ${name}`)
    .join('\n');
}

function main(): void {
  const [profileFile, minArg, ...roundFiles] = process.argv.slice(2);
  const minMs = Number(minArg);
  if (!profileFile || !(minMs >= 0) || roundFiles.length === 0) throw new Error('usage: tailProfile.ts PROFILE MIN_MS ROUND.json...');
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const long: Step[] = [];
  const rounds: { from: number; to: number }[] = [];
  for (const f of roundFiles) {
    const kept = JSON.parse(readFileSync(f, 'utf8')) as { hop: { events: Step[] }; flights: { sentMs: number; latencyMs: number }[] };
    long.push(...kept.hop.events.filter((s) => s.what.startsWith('data') && s.ms >= minMs));
    const first = kept.flights[0];
    const last = kept.flights[kept.flights.length - 1];
    if (first && last) rounds.push({ from: first.sentMs, to: last.sentMs + last.latencyMs });
  }
  long.sort((a, b) => a.at - b.at);
  const inLong = new Map<string, number>();
  const inAll = new Map<string, number>();
  let nLong = 0;
  let nAll = 0;
  let t = profile.startTime;
  let k = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const ms = t / 1000;
    if (!rounds.some((r) => ms >= r.from && ms <= r.to)) continue;
    const name = where(byId.get(profile.samples[i]!)!);
    inAll.set(name, (inAll.get(name) ?? 0) + 1);
    nAll += 1;
    while (k < long.length && long[k]!.at + long[k]!.ms < ms) k++;
    if (k < long.length && long[k]!.at <= ms) {
      inLong.set(name, (inLong.get(name) ?? 0) + 1);
      nLong += 1;
    }
  }
  process.stdout.write(`${long.length} data handlers of ${minMs} ms or more; ${nLong} of ${nAll} samples in the rounds fall inside them\n`);
  process.stdout.write(`self time inside them:\n${table(inLong, nLong, 30)}\n\nself time over the rounds:\n${table(inAll, nAll, 20)}\n`);
}

main();
