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

export function parseBoolean(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new OptionError(`expected true or false, got "${raw}"`);
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
