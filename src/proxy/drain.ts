import type { Logger } from '../log/logger';
import type { ProxyServer } from './proxyServer';

export interface DrainOptions {
  /** How long existing connections keep working before they are closed. */
  readonly drainMs: number;
  /** After connection.close 320, how long clients get to answer before sockets are cut. */
  readonly closeGraceMs: number;
}

/**
 * Graceful shutdown: stop accepting, let existing connections work for `drainMs` (or until
 * they are gone), then close the rest the AMQP way and wait for them to go.
 */
export async function drain(server: ProxyServer, options: DrainOptions, logger: Logger): Promise<void> {
  await server.stopAccepting();
  logger.info({ connections: server.connections.size, drainMs: options.drainMs }, 'draining: no new connections');
  await waitUntil(() => server.connections.size === 0, options.drainMs);
  if (server.connections.size > 0) {
    logger.info({ connections: server.connections.size }, 'drain period over: closing connections with 320 CONNECTION_FORCED');
    for (const pair of server.connections) pair.closeForced('amqp-trace-proxy shutting down', options.closeGraceMs);
    await waitUntil(() => server.connections.size === 0, options.closeGraceMs + 500);
  }
}

function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      if (done() || Date.now() >= deadline) resolve();
      else setTimeout(check, 50);
    };
    check();
  });
}
