// Regenerates the blocks of docs/ that are copies of a fact kept in code, so each fact is
// written by hand in one place only. Run after changing an option, a metric or a client
// library: npm run docs. test/unit/docs/generated.test.ts fails while a block is out of date.
//
// A block sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in its file; everything
// outside the markers is hand-written and left alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionDoc, helpText, limitOptions } from '../src/config/config';
import { METRIC_PREFIX, createMetrics } from '../src/metrics/metrics';
import { WEBHOOK_HELP, webhookLimitOptions } from '../src/webhook/cli';
import { verdictLines } from '../bench/lib/report';
import type { BenchResults } from '../bench/lib/results';

export const ROOT = join(__dirname, '..');

export interface GeneratedBlock {
  /** Path from the repository root. */
  readonly file: string;
  readonly name: string;
  render(): string | Promise<string>;
}

/** The option list as `--help` prints it (without the webhook's usage line). */
export function optionsBlock(): string {
  const options = helpText().split('\n').filter((l) => l.startsWith('  ') && !l.includes('amqp-trace-proxy webhook'));
  return ['```text', ...options, '```'].join('\n');
}

/** `amqp-trace-proxy webhook --help`, options and pod annotations, without its usage lines. */
export function webhookOptionsBlock(): string {
  const lines = WEBHOOK_HELP.split('\n');
  const from = lines.findIndex((l) => l.startsWith('  '));
  const to = lines.findIndex((l) => l.startsWith('See '));
  return ['```text', ...lines.slice(from, to).filter((l, i, all) => !(l === '' && i === all.length - 1)), '```'].join('\n');
}

/**
 * docs/SECURITY.md's limits: every option whose spec says `limit: true` (src/config/config.ts
 * for the proxy, src/webhook/cli.ts for the webhook), with its default and its help text.
 */
export function limitsBlock(): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|');
  const rows = (component: string, docs: readonly OptionDoc[]): string[] => docs.map((d) => {
    const names = d.names.split(' / ').map((n) => `\`${n}\``).join(' / ');
    return `| ${component} | ${names} | ${cell(d.shownDefault)} | ${cell(d.help)} |`;
  });
  return [
    '| listener | option | default | what it bounds |',
    '|---|---|---|---|',
    ...rows('proxy', limitOptions()),
    ...rows('webhook', webhookLimitOptions()),
  ].join('\n');
}

/**
 * A benchmark run's tables as the benchmark wrote them (bench/results/latest.md, or
 * sidecar.md for issue 24's sidecar workload), headings one level down to sit under a
 * section of docs/BENCHMARK.md. A results file not committed yet says so.
 */
function benchTablesBlock(base: 'latest' | 'sidecar'): string {
  const path = join(ROOT, 'bench', 'results', `${base}.md`);
  if (!existsSync(path)) return `No run committed yet (bench/results/${base}.md).`;
  return readFileSync(path, 'utf8').trimEnd().split('\n').map((l) => (/^#{1,5} /.test(l) ? `#${l}` : l)).join('\n');
}

/**
 * A benchmark run's verdicts on the issues' targets (bench/results/latest.json, or
 * sidecar.json), as the benchmark printed them, with the run they come from: the README
 * states each target met or not from these blocks only.
 */
function benchVerdictsBlock(base: 'latest' | 'sidecar'): string {
  const path = join(ROOT, 'bench', 'results', `${base}.json`);
  if (!existsSync(path)) return `No run committed yet (bench/results/${base}.json).`;
  const results = JSON.parse(readFileSync(path, 'utf8')) as BenchResults;
  const m = results.machine;
  const done = results.roundsCompleted ?? results.plannedRounds ?? results.config.rounds;
  const rounds = done === 1 ? 'one round' : `medians of ${done} rounds`;
  const scale = results.suite === 'sidecar' ? '' : `, scale ${results.config.scale}`;
  return [
    `Run of ${results.startedAt.slice(0, 10)} (${rounds}${scale}, proxy at ${m.gitCommit}; ${m.cpuModel}, ${m.cores} cores, shared): \`${results.command}\``,
    '',
    verdictLines(results.verdicts),
  ].join('\n');
}

interface MetricShape {
  name: string;
  help: string;
  type: string;
  labelNames: readonly string[];
  /** Values each label takes from startup (labels set from traffic or config have none). */
  values: Map<string, string[]>;
}

/** What prom-client's metrics (and LocalHistogram) offer besides the registry's MetricObject type. */
interface RegisteredMetric {
  readonly labelNames?: readonly string[];
  get(): Promise<{ name: string; help: string; type: string; values: { labels: Record<string, string | number> }[] }>;
}

/** The proxy's own metrics as a registry describes them, in registration order. */
async function metricShapes(destinationLabels: boolean): Promise<MetricShape[]> {
  const { registry } = createMetrics({ destinationLabels, maxDestinationLabels: 1, collectDefault: false });
  const shapes: MetricShape[] = [];
  for (const metric of registry.getMetricsAsArray() as unknown as RegisteredMetric[]) {
    const data = await metric.get();
    if (!data.name.startsWith(METRIC_PREFIX)) continue;
    const labelNames = metric.labelNames ?? [];
    const values = new Map<string, string[]>(labelNames.map((l) => [l, []]));
    for (const value of data.values) {
      for (const [label, v] of Object.entries(value.labels)) {
        const seen = values.get(label);
        if (seen && !seen.includes(String(v))) seen.push(String(v));
      }
    }
    shapes.push({ name: data.name, help: data.help, type: data.type, labelNames, values });
  }
  return shapes;
}

/**
 * The table of every `amqp_trace_proxy_*` metric: name, type, labels (with the values they
 * take from startup; "opt-in" for the destination labels) and the help text it is served with.
 */
export async function metricsBlock(): Promise<string> {
  const plain = new Map((await metricShapes(false)).map((m) => [m.name, m]));
  const rows = (await metricShapes(true)).map((m) => {
    const base = plain.get(m.name);
    const labels = m.labelNames.map((label) => {
      if (!base?.labelNames.includes(label)) return `\`${label}\` (opt-in)`;
      const values = base.values.get(label) ?? [];
      return values.length === 0 ? `\`${label}\`` : `\`${label}\`: ${values.map((v) => `\`${v}\``).join(', ')}`;
    });
    const help = m.help.replace(/\|/g, '\\|').replace(/\b(__\w+__)\b/g, '`$1`');
    return `| \`${m.name}\` | ${m.type} | ${labels.join('; ')} | ${help} |`;
  });
  return ['| metric | type | labels | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export const BLOCKS: readonly GeneratedBlock[] = [
  { file: 'docs/OPERATIONS.md', name: 'options', render: optionsBlock },
  { file: 'docs/SECURITY.md', name: 'limits', render: limitsBlock },
  { file: 'docs/METRICS.md', name: 'metrics', render: metricsBlock },
  { file: 'docs/DEPLOY.md', name: 'webhook-options', render: webhookOptionsBlock },
  { file: 'docs/BENCHMARK.md', name: 'bench-latest', render: () => benchTablesBlock('latest') },
  { file: 'docs/BENCHMARK.md', name: 'bench-sidecar', render: () => benchTablesBlock('sidecar') },
  { file: 'README.md', name: 'bench-verdicts', render: () => benchVerdictsBlock('latest') },
  { file: 'README.md', name: 'bench-sidecar-verdicts', render: () => benchVerdictsBlock('sidecar') },
];

const markers = (name: string): [string, string] => [`<!-- ${name}:begin -->`, `<!-- ${name}:end -->`];

/** The text between a block's markers, without the newlines next to them; undefined when absent. */
export function blockContent(text: string, name: string): string | undefined {
  const [begin, end] = markers(name);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return undefined;
  return text.slice(from + begin.length, to).replace(/^\n/, '').replace(/\n$/, '');
}

export function replaceBlock(text: string, name: string, content: string): string {
  const [begin, end] = markers(name);
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`no ${begin} … ${end} block`);
  return `${text.slice(0, from + begin.length)}\n${content}\n${text.slice(to)}`;
}

async function main(): Promise<void> {
  for (const block of BLOCKS) {
    const path = join(ROOT, block.file);
    const before = readFileSync(path, 'utf8');
    const after = replaceBlock(before, block.name, await block.render());
    if (after !== before) {
      writeFileSync(path, after);
      console.log(`updated ${block.file} (${block.name})`);
    }
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
