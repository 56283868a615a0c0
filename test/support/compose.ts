/**
 * Loads docker-compose files the way `docker compose -f a.yml -f b.yml` combines them, for
 * the parts this project's files use (Compose specification, "Merge"):
 * mappings merge key by key, sequences are appended, `command`/`entrypoint`/`healthcheck.test`
 * are replaced, `!override` replaces whatever was there and `!reset` removes it.
 * Interpolation (${VAR}) is not performed; the files here do not use it.
 */
import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

/** A value carrying Compose's merge tag until it is merged. */
export class Tagged {
  constructor(readonly tag: '!override' | '!reset', readonly value: unknown) {}
}

export const COMPOSE_TAGS = ['!override', '!reset'];

export interface ComposeBuild {
  context?: string;
  dockerfile?: string;
  target?: string;
}

export interface ComposeService {
  image?: string;
  build?: ComposeBuild | string;
  command?: unknown;
  entrypoint?: unknown;
  environment?: Record<string, string> | string[];
  ports?: (string | { target: number; published?: number | string; host_ip?: string; protocol?: string })[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  networks?: string[] | Record<string, { aliases?: string[] } | null>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: unknown };
  [key: string]: unknown;
}

export interface ComposeModel {
  name?: string;
  services: Record<string, ComposeService>;
  networks?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
}

/** Parses one file, keeping Compose's tags as `Tagged`; throws on YAML errors. */
export function readComposeFile(path: string): unknown {
  const doc = parseDocument(readFileSync(path, 'utf8'));
  if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
  const unexpected = doc.warnings.filter((w) => !COMPOSE_TAGS.some((t) => w.message.includes(`tag: ${t}`)));
  if (unexpected.length > 0) throw new Error(`${path}: ${unexpected.map((w) => w.message).join('; ')}`);
  return toValue(doc.contents as Node | null, doc);
}

function toValue(node: Node | null, doc: Document): unknown {
  if (node === null) return null;
  if (isAlias(node)) return toValue(node.resolve(doc) as Node, doc);
  let value: unknown;
  if (isMap(node)) {
    const obj: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      obj[key] = toValue(pair.value as Node | null, doc);
    }
    value = obj;
  } else if (isSeq(node)) {
    value = node.items.map((item) => toValue(item as Node | null, doc));
  } else if (isScalar(node)) {
    value = node.value;
  } else {
    throw new Error('unsupported YAML node');
  }
  return node.tag === '!override' || node.tag === '!reset' ? new Tagged(node.tag, value) : value;
}

const REPLACED = new Set(['command', 'entrypoint', 'test']);

/** Merges `override` onto `base` following the Compose rules above. */
export function mergeCompose(base: unknown, override: unknown, key = ''): unknown {
  if (override instanceof Tagged) return override.tag === '!reset' ? undefined : strip(override.value);
  if (isPlainObject(base) && isPlainObject(override)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(override)) {
      const merged = mergeCompose(base[k], v, k);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(override) && !REPLACED.has(key)) return [...base, ...strip(override) as unknown[]];
  return strip(override);
}

function strip(value: unknown): unknown {
  if (value instanceof Tagged) return value.tag === '!reset' ? undefined : strip(value.value);
  if (Array.isArray(value)) return value.map(strip);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strip(v)]));
  return value;
}

export function loadCompose(...paths: string[]): ComposeModel {
  let model: unknown = {};
  for (const p of paths) model = mergeCompose(model, readComposeFile(p));
  const m = model as ComposeModel;
  if (!isPlainObject(m.services)) throw new Error(`${paths.join(' + ')}: no services`);
  return m;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Tagged);
}

/** Network aliases of a service on one network. */
export function aliases(service: ComposeService, network: string): string[] {
  const nets = service.networks;
  if (!nets || Array.isArray(nets)) return [];
  return nets[network]?.aliases ?? [];
}

export interface PublishedPort {
  hostIp: string;
  published: number;
  target: number;
  protocol: string;
}

/** Short (`[ip:]published:target[/proto]`) and long port syntax; ports without a host side are skipped. */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const p of service.ports ?? []) {
    if (typeof p === 'string') {
      const [spec = '', protocol = 'tcp'] = p.split('/');
      const parts = spec.split(':');
      if (parts.length < 2) continue;
      const target = Number(parts[parts.length - 1]);
      const published = Number(parts[parts.length - 2]);
      const hostIp = parts.length >= 3 ? parts.slice(0, -2).join(':') : '0.0.0.0';
      out.push({ hostIp, published, target, protocol });
    } else if (p.published !== undefined) {
      out.push({ hostIp: p.host_ip ?? '0.0.0.0', published: Number(p.published), target: p.target, protocol: p.protocol ?? 'tcp' });
    }
  }
  return out;
}

export interface BindMount {
  source: string;
  target: string;
}

/** Bind mounts only (sources that are paths); named volumes are skipped. */
export function bindMounts(service: ComposeService): BindMount[] {
  const out: BindMount[] = [];
  for (const v of service.volumes ?? []) {
    if (typeof v === 'string') {
      const [source = '', target = ''] = v.split(':');
      if (/^[./~]/.test(source)) out.push({ source, target });
    } else if (v.type === 'bind' && v.source) {
      out.push({ source: v.source, target: v.target });
    }
  }
  return out;
}

export function environment(service: ComposeService): Record<string, string> {
  const env = service.environment;
  if (!env) return {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.split('=')[0] ?? '', e.slice(e.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}
