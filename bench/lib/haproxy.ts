/**
 * haproxy in TCP mode as the reference opaque proxy. The config is generated per run:
 * loopback only, one thread (like the Node event loop it is compared with), timeouts long
 * enough for idle AMQP connections (heartbeats are 60 s by default), and maxconn well
 * above the 1,000-connection memory workload.
 */
import { execFileSync } from 'node:child_process';

export interface HaproxyConfigInput {
  listenPort: number;
  upstreamHost: string;
  upstreamPort: number;
  maxconn: number;
}

export function haproxyConfig(input: HaproxyConfigInput): string {
  return [
    'global',
    `    maxconn ${input.maxconn}`,
    '    nbthread 1',
    '',
    'defaults',
    '    mode tcp',
    `    maxconn ${input.maxconn}`,
    '    timeout connect 5s',
    '    timeout client 1h',
    '    timeout server 1h',
    '',
    'frontend amqp',
    `    bind 127.0.0.1:${input.listenPort}`,
    '    default_backend broker',
    '',
    'backend broker',
    `    server rabbitmq ${input.upstreamHost}:${input.upstreamPort}`,
    '',
  ].join('\n');
}

/** `haproxy` on PATH (or in /usr/sbin, which a non-root PATH may lack), and its version line. */
export function findHaproxy(): { path: string; version: string } | undefined {
  for (const candidate of ['haproxy', '/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) {
    try {
      const out = execFileSync(candidate, ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const m = /HAProxy version (\S+)/.exec(out);
      return { path: candidate, version: m ? `HAProxy ${m[1]}` : 'HAProxy (unknown version)' };
    } catch {
      // try the next place
    }
  }
  return undefined;
}
