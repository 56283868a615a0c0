import { redact } from '../config/options';
import { Logger, RateLimitedLog } from './logger';

/**
 * An error that escaped every handler (each HTTP and socket handler catches its own) is
 * logged and the process keeps serving. Exiting would drop every client connection, which is
 * what a request crafted to throw is after; what a stray throw can leave inconsistent is the
 * one connection or request whose handler it unwound. Logged at most once a second per kind,
 * with how many were not, so a flood cannot fill the disk; redacted, as an error may quote a
 * broker URL.
 */
export function keepServingOnEscapedErrors(logger: Logger): void {
  const log = new RateLimitedLog(logger, 1000);
  const report = (kind: string) => (err: unknown): void => {
    const error = err instanceof Error ? redact(err.stack ?? `${err.name}: ${err.message}`) : redact(String(err));
    log.warn(kind, { kind, err: error }, 'error escaped its handler; still serving');
  };
  process.on('uncaughtException', report('uncaughtException'));
  process.on('unhandledRejection', report('unhandledRejection'));
}
