/**
 * Golden spans: the spans a scripted run exported, written so that two runs compare equal
 * when the proxy behaved the same, whatever the ids, times, per-run names and arrival order.
 *
 * Each span becomes a GoldenSpan whose `span` is its place in its trace: its kind and name,
 * then its parent's, up to the root (`PRODUCER publish <q:x>` for a root, `CONSUMER process
 * <q:x> ← CONSUMER broker_hop <q:x> ← PRODUCER publish <q:x>` below it). Ids become symbols:
 * a trace or span id the test sent is named by the test (`<trace:incoming>`), a trace the
 * proxy started is `trace-N`, numbered by the sorted paths of its spans, and a link names the
 * path of the span it points to. Per-run names (queues, consumer tags, ports) are replaced by
 * the symbols the test registered, or by a pattern for the broker's own (`amq.gen-*`).
 * A scenario's spans are then sorted by their JSON, so arrival order does not matter.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { ReceivedSpan } from './otlpReceiver';

export interface GoldenSpan {
  /** Kind and name of the span, then of each ancestor (` ← `), up to the root or an outside parent. */
  span: string;
  trace: string;
  /** OTLP flags in hex: W3C flags, and whether the parent is remote. */
  flags: string;
  status: string;
  attributes: Record<string, unknown>;
  links: string[];
  events: { name: string; attributes: Record<string, unknown> }[];
}

export type GoldenRecording = Record<string, GoldenSpan[]>;

/** Names that differ between runs, and what the recording calls them. */
export class Symbols {
  private readonly exact = new Map<string, string>();

  /** `value`, wherever it appears in a name or a string attribute, is written as `symbol`. */
  name<T extends string | number>(value: T, symbol: string): T {
    this.exact.set(String(value), symbol);
    return value;
  }

  /** The symbol of an id or a number registered as a whole, if any. */
  whole(value: string): string | undefined {
    return this.exact.get(value);
  }

  text(value: string): string {
    let out = value;
    // Longest first: a name that contains another is replaced as a whole.
    for (const [from, to] of [...this.exact].sort((a, b) => b[0].length - a[0].length)) {
      if (from.length > 4 && out.includes(from)) out = out.split(from).join(to);
    }
    return out.replace(/amq\.gen-[A-Za-z0-9_-]+/g, 'amq.gen-*').replace(/amq\.ctag-[A-Za-z0-9_-]+/g, 'amq.ctag-*');
  }

  value(value: unknown): unknown {
    if (typeof value === 'string') return this.whole(value) ?? this.text(value);
    if (typeof value === 'number' || typeof value === 'bigint') return this.whole(String(value)) ?? value;
    if (Array.isArray(value)) return value.map((v) => this.value(v));
    return value;
  }

  attributes(attributes: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(attributes).sort()) out[key] = this.value(attributes[key]);
    return out;
  }
}

const idOf = (traceId: string, spanId: string): string => `${traceId}/${spanId}`;

/** The spans of one scenario, written without ids, times or per-run names, in a stable order. */
export function goldenSpans(spans: ReceivedSpan[], symbols: Symbols): GoldenSpan[] {
  const byId = new Map(spans.map((s) => [idOf(s.traceId, s.spanId), s]));
  const paths = new Map<ReceivedSpan, string>();
  const outside = (spanId: string): string => `<outside span ${symbols.whole(spanId) ?? 'not sent by the test'}>`;
  const pathOf = (s: ReceivedSpan, seen: Set<ReceivedSpan> = new Set()): string => {
    const known = paths.get(s);
    if (known !== undefined) return known;
    const label = `${s.kind} ${symbols.text(s.name)}`;
    let path = label;
    if (s.parentSpanId !== '') {
      const parent = byId.get(idOf(s.traceId, s.parentSpanId));
      path += ' ← ' + (parent && !seen.has(parent) ? pathOf(parent, seen.add(s)) : outside(s.parentSpanId));
    }
    paths.set(s, path);
    return path;
  };
  // A trace the proxy started is numbered by what its spans say (ids and links aside), so
  // two traces that differ only in a message id keep their numbers whatever order they came in.
  const shapes = new Map<ReceivedSpan, string>(spans.map((s) => [s, JSON.stringify([
    pathOf(s), s.flags, s.status, symbols.attributes(s.attributes), s.events.map((e) => [e.name, symbols.attributes(e.attributes)]),
  ])]));
  const traces = new Map<string, string[]>();
  for (const s of spans) traces.set(s.traceId, [...(traces.get(s.traceId) ?? []), shapes.get(s)!]);
  const traceNames = new Map<string, string>();
  const unnamed = [...traces].filter(([id]) => symbols.whole(id) === undefined)
    .map(([id, shape]) => [id, shape.sort().join('\n')] as const)
    .sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  unnamed.forEach(([id], i) => traceNames.set(id, `trace-${i + 1}`));
  const traceName = (id: string): string => symbols.whole(id) ?? traceNames.get(id) ?? '<a trace with no span here>';
  const golden = spans.map((s): GoldenSpan => ({
    span: pathOf(s),
    trace: traceName(s.traceId),
    flags: `0x${s.flags.toString(16)}`,
    status: s.status.message ? `${s.status.code}: ${symbols.text(s.status.message)}` : s.status.code,
    attributes: symbols.attributes(s.attributes),
    links: s.links.map((l) => {
      const target = byId.get(idOf(l.traceId, l.spanId));
      return `${traceName(l.traceId)} ${target ? pathOf(target) : outside(l.spanId)}`;
    }).sort(),
    events: s.events.map((e) => ({ name: e.name, attributes: symbols.attributes(e.attributes) })),
  }));
  return golden.sort((a, b) => {
    const x = JSON.stringify(a);
    const y = JSON.stringify(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

export function readRecording(file: string): GoldenRecording {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as GoldenRecording;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

export function writeRecording(file: string, recording: GoldenRecording): void {
  writeFileSync(file, JSON.stringify(recording, null, 2) + '\n');
}

/**
 * Undefined when `actual` is the recording; otherwise a readable account: for each span that
 * changed, the fields that differ; then the spans that only one side has.
 */
export function goldenDiff(scenario: string, recorded: GoldenSpan[] | undefined, actual: GoldenSpan[]): string | undefined {
  if (recorded === undefined) return `scenario "${scenario}" has no recording: run with GOLDEN_RECORD=1 and commit the file`;
  const key = (s: GoldenSpan): string => JSON.stringify(s);
  const left = [...recorded];
  const extra: GoldenSpan[] = [];
  for (const s of actual) {
    const i = left.findIndex((r) => key(r) === key(s));
    if (i >= 0) left.splice(i, 1);
    else extra.push(s);
  }
  if (left.length === 0 && extra.length === 0) return undefined;
  const lines = [`scenario "${scenario}": the exported spans differ from the recording (${recorded.length} recorded, ${actual.length} now)`];
  for (const now of [...extra]) {
    const i = left.findIndex((r) => r.span === now.span);
    if (i < 0) continue;
    const [was] = left.splice(i, 1);
    extra.splice(extra.indexOf(now), 1);
    lines.push(`  changed: ${now.span}`);
    for (const field of fieldDiff(was!, now)) lines.push(`    ${field}`);
  }
  for (const s of left) lines.push(`  missing (recorded, not exported): ${JSON.stringify(s)}`);
  for (const s of extra) lines.push(`  unexpected (exported, not recorded): ${JSON.stringify(s)}`);
  lines.push('If the change is intended, run with GOLDEN_RECORD=1 and commit the recording with a message saying why.');
  return lines.join('\n');
}

function fieldDiff(was: GoldenSpan, now: GoldenSpan): string[] {
  const out: string[] = [];
  const flat = (s: GoldenSpan): Map<string, string> => {
    const m = new Map<string, string>();
    for (const [k, v] of Object.entries(s)) {
      if (k === 'attributes') for (const [a, av] of Object.entries(v as Record<string, unknown>)) m.set(`attributes.${a}`, JSON.stringify(av));
      else m.set(k, JSON.stringify(v));
    }
    return m;
  };
  const a = flat(was);
  const b = flat(now);
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push(`${k}: recorded ${a.get(k) ?? '(absent)'}, now ${b.get(k) ?? '(absent)'}`);
  }
  return out;
}
