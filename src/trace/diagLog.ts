import { DiagLogLevel, DiagLogger, diag } from '@opentelemetry/api';
import { redact } from '../config/options';
import { Logger, RateLimitedLog } from '../log/logger';

/** A diag line's text is cut here: SDK messages are short, their arguments may not be. */
const MAX_TEXT = 500;
/** Distinct messages given their own rate limit; any beyond share one. */
const MAX_KEYS = 32;

/**
 * OpenTelemetry's own diagnostics (the SDK's and the exporter's `diag.warn` and
 * `diag.error`: a header it ignores, a sampler setting it replaced, a batch it could not
 * export) go to the proxy's log as warnings, at most one per message text every
 * `intervalMs`. Nothing below warn is passed on.
 *
 * The text is scrubbed first: URL credentials (`user:pass@`) and every string in
 * `secrets` (the exporter's header values, which its warnings quote) become `***`.
 * Returns the function that detaches it again.
 */
export function routeOtelDiagnostics(logger: Logger, secrets: readonly string[], intervalMs = 30_000): () => void {
  const log = new RateLimitedLog(logger, intervalMs);
  const keys = new Set<string>();
  const write = (level: 'error' | 'warn') => (raw: string, ...args: unknown[]): void => {
    const message = unstringified(raw);
    const text = scrub([message, ...args.map(describe)].join(' '), secrets);
    let key = `${level} ${message.slice(0, 80)}`;
    if (!keys.has(key)) {
      if (keys.size < MAX_KEYS) keys.add(key);
      else key = 'other';
    }
    log.warn(key, { source: 'opentelemetry', diagLevel: level, diag: text }, 'OpenTelemetry SDK diagnostic');
  };
  const ignore = (): void => undefined;
  const routed: DiagLogger = { error: write('error'), warn: write('warn'), info: ignore, debug: ignore, verbose: ignore };
  diag.setLogger(routed, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  return () => diag.disable();
}

/**
 * The SDK's global error handler logs an exception as its JSON (stack and all): the
 * message and code are what an operator reads.
 */
function unstringified(message: string): string {
  if (!message.startsWith('{')) return message;
  try {
    const parsed = JSON.parse(message) as { message?: unknown; code?: unknown };
    if (typeof parsed.message !== 'string') return message;
    return parsed.code === undefined ? parsed.message : `${parsed.message} (code ${String(parsed.code)})`;
  } catch {
    return message;
  }
}

function describe(arg: unknown): string {
  if (arg instanceof Error) {
    const code = (arg as { code?: unknown }).code;
    return code === undefined ? arg.message : `${arg.message} (code ${String(code)})`;
  }
  if (typeof arg === 'string') return arg;
  try {
    return JSON.stringify(arg) ?? String(arg);
  } catch {
    return String(arg);
  }
}

/** The text without credentials, cut to MAX_TEXT characters. */
export function scrub(text: string, secrets: readonly string[]): string {
  let clean = redact(text);
  // Longest first: a secret inside another ("Bearer abc" holds "abc") must not split it.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret !== '') clean = clean.split(secret).join('***');
  }
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT)}...` : clean;
}
