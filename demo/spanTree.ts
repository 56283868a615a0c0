/**
 * Renders exported spans as one indented tree per trace, for a terminal:
 *
 *   trace 0af7651916cd43dd8448eb211c80319c  (4 spans, 61.2 ms)
 *   POST /shares                                      api-gateway         3.0 ms  ok
 *   ├─ publish llm  task=llm.summarize  continued     amqp-trace-proxy    0.4 ms  ok
 *   └─ broker_hop llm  task=llm.summarize             amqp-trace-proxy    1.1 ms  ok
 *      └─ process llm  task=llm.summarize             amqp-trace-proxy   52.7 ms  ERROR reject
 *
 * Children are ordered by start time. A span whose parent was not received (another
 * service that does not export, or a span still open) is shown as a root of its own,
 * marked with the parent id it names, so a broken link is visible rather than hidden.
 */

/** The fields the tree needs; the demo's collector and the tests' OTLP receiver both provide them. */
export interface TreeSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly serviceName: string;
  readonly startTimeUnixNano: bigint;
  readonly endTimeUnixNano: bigint;
  readonly status: { readonly code: string; readonly message?: string };
  readonly attributes: Readonly<Record<string, unknown>>;
}

/**
 * Attributes worth a glance next to the span name, as they are shown: the Celery task (what a
 * person looks for; not in the span name, see docs/CONVENTIONS.md), its retry (and the attempt it retried), a dead letter's
 * reason and source queue, a redelivery, and how the proxy found a publish span's parent.
 */
const NOTES: readonly [string, (value: unknown, attributes: Readonly<Record<string, unknown>>) => string][] = [
  ['celery.task.name', (v) => `task=${v}`],
  ['celery.task.retries', (v) => (typeof v === 'number' && v > 0 ? `retry=${v}` : '')],
  ['amqp_trace_proxy.dead_letter.reason', (v, a) => `dead-lettered=${v} from ${a['amqp_trace_proxy.dead_letter.queue'] ?? '?'}`],
  ['amqp_trace_proxy.dead_lettered', (v) => (v === true ? 'to dead letters' : '')],
  ['amqp_trace_proxy.retried', (v) => (v === true ? 'retried' : '')],
  ['amqp_trace_proxy.redelivered', (v) => (v === true ? 'redelivered' : '')],
  ['amqp_trace_proxy.context', (v) => String(v)],
];

export interface TraceGroup<S extends TreeSpan> {
  readonly traceId: string;
  readonly spans: S[];
}

/** Spans grouped by trace id, traces in order of their earliest span. */
export function groupByTrace<S extends TreeSpan>(spans: readonly S[]): TraceGroup<S>[] {
  const groups = new Map<string, S[]>();
  for (const s of spans) {
    const list = groups.get(s.traceId) ?? [];
    list.push(s);
    groups.set(s.traceId, list);
  }
  return [...groups].map(([traceId, list]) => ({ traceId, spans: list.sort(byStart) }))
    .sort((a, b) => byStart(a.spans[0]!, b.spans[0]!));
}

/** Roots of one trace (spans without a received parent) with their children attached. */
export interface TreeNode<S extends TreeSpan> {
  readonly span: S;
  readonly children: TreeNode<S>[];
  /** True when the span names a parent that is not among the spans. */
  readonly orphan: boolean;
}

export function buildTree<S extends TreeSpan>(spans: readonly S[]): TreeNode<S>[] {
  const nodes = new Map<string, TreeNode<S>>();
  for (const span of [...spans].sort(byStart)) {
    nodes.set(span.spanId, { span, children: [], orphan: false });
  }
  const roots: TreeNode<S>[] = [];
  for (const node of nodes.values()) {
    const parent = node.span.parentSpanId === '' ? undefined : nodes.get(node.span.parentSpanId);
    if (parent !== undefined && parent !== node) parent.children.push(node);
    else roots.push(node.span.parentSpanId === '' ? node : { ...node, orphan: true });
  }
  return roots;
}

export function renderTrace(spans: readonly TreeSpan[]): string {
  if (spans.length === 0) return '';
  const start = spans.reduce((m, s) => (s.startTimeUnixNano < m ? s.startTimeUnixNano : m), spans[0]!.startTimeUnixNano);
  const end = spans.reduce((m, s) => (s.endTimeUnixNano > m ? s.endTimeUnixNano : m), spans[0]!.endTimeUnixNano);
  const rows: [string, string, string, string][] = [];
  const walk = (node: TreeNode<TreeSpan>, prefix: string, branch: string): void => {
    const s = node.span;
    const notes = NOTES.map(([k, show]) => (s.attributes[k] === undefined || s.attributes[k] === '' ? '' : show(s.attributes[k], s.attributes)))
      .filter((v) => v !== '');
    const orphan = node.orphan ? `  (parent ${s.parentSpanId} not received)` : '';
    rows.push([`${prefix}${branch}${[s.name, ...notes].join('  ')}${orphan}`, s.serviceName, duration(s), status(s)]);
    const childPrefix = prefix + (branch === '├─ ' ? '│  ' : branch === '└─ ' ? '   ' : '');
    node.children.forEach((c, i) => walk(c, childPrefix, i === node.children.length - 1 ? '└─ ' : '├─ '));
  };
  for (const root of buildTree(spans)) walk(root, '', '');
  const width = (i: number): number => Math.max(...rows.map((r) => r[i]!.length));
  const [w0, w1, w2] = [width(0), width(1), width(2)];
  const header = `trace ${spans[0]!.traceId}  (${spans.length} span${spans.length === 1 ? '' : 's'}, ${ms(end - start)})`;
  return [header, ...rows.map(([tree, service, dur, st]) =>
    `${tree.padEnd(w0)}  ${service.padEnd(w1)}  ${dur.padStart(w2)}  ${st}`.trimEnd())].join('\n');
}

export function renderTraces(spans: readonly TreeSpan[]): string {
  return groupByTrace(spans).map((g) => renderTrace(g.spans)).join('\n\n');
}

function byStart(a: TreeSpan, b: TreeSpan): number {
  return a.startTimeUnixNano < b.startTimeUnixNano ? -1 : a.startTimeUnixNano > b.startTimeUnixNano ? 1 : 0;
}

function duration(s: TreeSpan): string {
  return ms(s.endTimeUnixNano - s.startTimeUnixNano);
}

function ms(nanos: bigint): string {
  return `${(Number(nanos) / 1e6).toFixed(1)} ms`;
}

/** UNSET and OK both mean "no error recorded"; an error shows its message (the proxy puts error.type there). */
function status(s: TreeSpan): string {
  if (s.status.code !== 'ERROR') return 'ok';
  return s.status.message ? `ERROR ${s.status.message}` : 'ERROR';
}
