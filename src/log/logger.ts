import pino, { Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. The AMQP handshake carries credentials and messages carry bodies:
 * neither is ever passed to a logger, and the redact list guards the field names that a
 * future change might be tempted to log.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'amqp-trace-proxy' },
    redact: { paths: ['password', 'url', 'body', 'payload', '*.password', '*.url'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Logs at most once per `intervalMs` per key, counting what it suppressed in between. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly logger: Logger, private readonly intervalMs: number, private readonly now = Date.now) {}

  warn(key: string, obj: object, msg: string): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    this.logger.warn({ ...obj, suppressed: entry?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: t, suppressed: 0 });
  }
}
