import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { ProxyConfig } from './config';

type TlsFields = Pick<ProxyConfig,
  'tlsCert' | 'tlsKey' | 'tlsClientCa' | 'upstreamTlsCa' | 'upstreamTlsCert' | 'upstreamTlsKey' | 'upstreamTlsInsecure' | 'upstreams'>;

/**
 * Cross-option checks for TLS: settings that only make sense together, and PEM files that
 * Node cannot use. Keys in `skip` already failed to parse and are not checked again.
 */
export function tlsProblems(config: TlsFields, skip: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const given = (key: keyof TlsFields): boolean => !skip.has(key) && config[key] !== undefined && config[key] !== false;
  const pair = (a: keyof TlsFields, b: keyof TlsFields, aName: string, bName: string): void => {
    if (skip.has(a) || skip.has(b)) return;
    if (given(a) && !given(b)) problems.push(`${aName} is set but ${bName} is not: both are needed`);
    if (given(b) && !given(a)) problems.push(`${bName} is set but ${aName} is not: both are needed`);
  };
  pair('tlsCert', 'tlsKey', '--tls-cert (PROXY_TLS_CERT)', '--tls-key (PROXY_TLS_KEY)');
  pair('upstreamTlsCert', 'upstreamTlsKey', '--upstream-tls-cert (PROXY_UPSTREAM_TLS_CERT)', '--upstream-tls-key (PROXY_UPSTREAM_TLS_KEY)');
  if (given('tlsClientCa') && !given('tlsCert') && !skip.has('tlsCert')) {
    problems.push('--tls-client-ca (PROXY_TLS_CLIENT_CA) needs --tls-cert and --tls-key: mutual TLS is TLS first');
  }
  const upstreamTls = (['upstreamTlsCa', 'upstreamTlsCert', 'upstreamTlsKey', 'upstreamTlsInsecure'] as const).filter(given);
  if (upstreamTls.length > 0 && !skip.has('upstreams') && !config.upstreams.some((u) => u.tls)) {
    problems.push(`upstream TLS settings (${upstreamTls.join(', ')}) have no effect: no upstream URL is amqps://`);
  }
  if (problems.length > 0) return problems;
  const usable = (what: string, build: () => void): void => {
    try {
      build();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  if (given('tlsCert')) usable('--tls-cert/--tls-key', () => createSecureContext({ cert: read(config.tlsCert), key: read(config.tlsKey) }));
  if (given('tlsClientCa')) usable('--tls-client-ca', () => createSecureContext({ ca: read(config.tlsClientCa) }));
  if (given('upstreamTlsCa')) usable('--upstream-tls-ca', () => createSecureContext({ ca: read(config.upstreamTlsCa) }));
  if (given('upstreamTlsCert')) {
    usable('--upstream-tls-cert/--upstream-tls-key', () =>
      createSecureContext({ cert: read(config.upstreamTlsCert), key: read(config.upstreamTlsKey) }));
  }
  return problems;
}

function read(path: string | undefined): Buffer {
  return readFileSync(path!);
}
