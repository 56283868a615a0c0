/**
 * With BENCH_PROFILE=1 the Node targets (relay and proxy) run under `node --cpu-prof`; this
 * turns each .cpuprofile into a short self-time table, so a missed target comes with the
 * functions that explain it. Open the file itself in Chrome DevTools or speedscope for
 * the flame graph.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
}

export function cpuProfArgs(dir: string, name: string): string[] {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

const NOT_CPU = new Set(['(idle)', '(program)', '(root)']);

/** A readable location: relative to the first root it is under, else the path as it is. */
function shortPath(url: string, roots: readonly string[]): string {
  const path = url.replace(/^file:\/\//, '');
  for (const root of roots) if (path.startsWith(`${root}/`)) return relative(root, path);
  return path;
}

/**
 * Where the busy samples went (idle excluded): the `top` functions by self time, then the
 * `top` files, which tell the layer (scanner, tracer, OTel SDK, exporter) at a glance.
 */
export function summariseProfile(profile: CpuProfile, roots: readonly string[], top = 12): string[] {
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busy = 0;
  let all = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    all += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    if (hits === 0 || NOT_CPU.has(functionName)) continue;
    busy += hits;
    const file = url ? shortPath(url, roots) : '(native)';
    const fn = `${functionName || '(anonymous)'}  ${url ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
    byFile.set(file, (byFile.get(file) ?? 0) + hits);
  }
  const rank = (m: Map<string, number>): string[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, hits]) => `${((100 * hits) / Math.max(1, busy)).toFixed(1).padStart(6)}%  ${key}`);
  return [
    `  busy in ${((100 * busy) / Math.max(1, all)).toFixed(1)}% of samples; shares below are of the busy samples`,
    '  by function (self time):',
    ...rank(byFunction),
    '  by file:',
    ...rank(byFile),
  ];
}

/** Summaries of every .cpuprofile in `dir`, keyed by file name. */
export function summariseProfiles(dir: string, roots: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return out;
  }
  for (const file of files.sort()) {
    try {
      out.set(join(dir, file), summariseProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile, roots));
    } catch {
      out.set(join(dir, file), ['(unreadable profile)']);
    }
  }
  return out;
}
