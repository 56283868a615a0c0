import { accessSync, constants } from 'node:fs';

/**
 * Every option the proxy understands, in one table: flag, environment variable, default,
 * parser and help text. Precedence is defaults < environment < flags (amqproxy's order).
 * OTEL_* variables follow the OpenTelemetry SDK specification's names and meanings.
 */

export type Parser<T> = (raw: string) => T;

export interface OptionSpec<T> {
  readonly flag?: string;
  readonly env?: string;
  readonly defaultValue: T;
  readonly parse: Parser<T>;
  readonly help: string;
  /** Shown instead of the value in --help; for secrets and long defaults. */
  readonly shownDefault?: string;
}

export class OptionError extends Error {}

/** Removes the password from anything URL-shaped before it reaches a message. */
export function redact(raw: string): string {
  return raw.replace(/(\/\/[^:/@]*:)[^@/]*@/g, '$1***@');
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseHostPort(raw: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) throw new OptionError(`expected host:port, got "${raw}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new OptionError(`port ${port} is out of range (0-65535)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

const TRUE_WORDS = ['1', 'true', 'yes', 'on'];
const FALSE_WORDS = ['0', 'false', 'no', 'off'];

export function parseBoolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (TRUE_WORDS.includes(v)) return true;
  if (FALSE_WORDS.includes(v)) return false;
  throw new OptionError(`expected true or false, got "${raw}"`);
}

/** Whether a command-line word is a value for a boolean flag (else the flag alone means true). */
export function isBooleanWord(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  return TRUE_WORDS.includes(v) || FALSE_WORDS.includes(v);
}

export function integerIn(min: number, max: number): Parser<number> {
  return (raw) => {
    const v = raw.trim();
    if (!/^\d+$/.test(v)) throw new OptionError(`expected a whole number, got "${raw}"`);
    const n = Number(v);
    if (n < min || n > max) throw new OptionError(`${n} is out of range (${min}-${max})`);
    return n;
  };
}

export function ratio(raw: string): number {
  const n = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new OptionError(`expected a number from 0 to 1, got "${raw}"`);
  }
  return n;
}

export function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if ((values as string[]).includes(v)) return v as T;
    throw new OptionError(`expected one of ${values.join(', ')}, got "${raw}"`);
  };
}

/** A comma-separated list of distinct values from a fixed set; "" or "none" is the empty list. */
export function listOf<T extends string>(values: readonly T[]): Parser<T[]> {
  return (raw) => {
    const items = raw.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
    if (items.length === 1 && items[0] === 'none') return [];
    const unknown = items.filter((v) => !(values as readonly string[]).includes(v));
    if (unknown.length > 0) throw new OptionError(`unknown ${unknown.map((v) => `"${v}"`).join(', ')}; expected any of ${values.join(', ')}`);
    return [...new Set(items)] as T[];
  };
}

/**
 * OTEL_PROPAGATORS: the proxy propagates W3C trace context (`traceparent`, `tracestate`) and
 * nothing else. `baggage` is accepted: a baggage header travels untouched, as every header
 * the proxy does not own. Any other propagator would be silently ignored, so it is an error.
 */
export function propagators(raw: string): string[] {
  const items = [...new Set(raw.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== ''))];
  const unsupported = items.filter((v) => v !== 'tracecontext' && v !== 'baggage');
  if (unsupported.length > 0) {
    throw new OptionError(`${unsupported.map((v) => `"${v}"`).join(', ')} not supported: the proxy reads and writes W3C trace context only `
      + '(tracecontext, optionally with baggage); to stop propagating, set ENABLE_TRACE_PROPAGATION=false');
  }
  if (!items.includes('tracecontext')) {
    throw new OptionError('must include tracecontext: the proxy reads and writes W3C trace context; '
      + 'to stop propagating, set ENABLE_TRACE_PROPAGATION=false');
  }
  return items;
}

export function text(raw: string): string {
  return raw;
}

export function optionalPath(raw: string): string | undefined {
  return raw.trim() === '' ? undefined : raw.trim();
}

/** A path the proxy must be able to read now (certificates, keys): checked at startup. */
export function readableFile(raw: string): string | undefined {
  const path = optionalPath(raw);
  if (path === undefined) return undefined;
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    throw new OptionError(`cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return path;
}

const OTLP_GRPC_HINT = "the collector's OTLP gRPC address as a URL, e.g. http://otel-collector:4317 (https:// for TLS)";

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT and _TRACES_ENDPOINT for the gRPC exporter. The exporter itself
 * takes any string (a bare "notaurl" becomes https://notaurl and fails at every export), so
 * everything it would only fail on later is refused here: no scheme, another scheme than
 * http, https or unix, no host, and a path (gRPC has none: a path is the sign of an OTLP/HTTP
 * endpoint such as :4318/v1/traces).
 */
export function otlpGrpcEndpoint(raw: string): string | undefined {
  const value = raw.trim();
  if (value === '') return undefined;
  const shown = redact(value);
  if (/^unix:/i.test(value)) return value;
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new OptionError(`"${shown}" is not a URL: expected ${OTLP_GRPC_HINT}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OptionError(`"${shown}" is not a URL: expected ${OTLP_GRPC_HINT}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new OptionError(`unsupported scheme "${url.protocol}" in "${shown}": expected ${OTLP_GRPC_HINT}`);
  }
  if (url.hostname === '') throw new OptionError(`no host in "${shown}": expected ${OTLP_GRPC_HINT}`);
  if (url.pathname !== '/' || url.search !== '') {
    throw new OptionError(`"${shown}" has a path; gRPC endpoints have none (the proxy exports OTLP over gRPC, usually port 4317, `
      + 'not OTLP/HTTP on 4318 with /v1/traces)');
  }
  return value;
}

/** OTEL_EXPORTER_OTLP_PROTOCOL: the proxy's exporter speaks gRPC only. */
export function otlpProtocol(raw: string): 'grpc' {
  const value = raw.trim().toLowerCase();
  if (value === '' || value === 'grpc') return 'grpc';
  throw new OptionError(`"${raw}" is not supported: the proxy exports OTLP over gRPC only `
    + '(unset it or set "grpc", and point the endpoint at the collector\'s gRPC port, usually 4317)');
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: key=value pairs, comma-separated, values percent-encoded (OTel
 * SDK specification). A malformed list is refused rather than half applied.
 */
export function resourceAttributes(raw: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (key === '') throw new OptionError(`"${pair.trim()}" is not key=value (expected key=value,key=value)`);
    try {
      attrs[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new OptionError(`the value of "${key}" is not valid percent-encoding`);
    }
  }
  return attrs;
}
