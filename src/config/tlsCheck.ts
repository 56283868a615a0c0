import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Upstream } from './upstream';

/** The TLS options of ProxyConfig (declared here so that config.ts, which calls this, is not imported back). */
interface TlsFields {
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsClientCa: string | undefined;
  upstreamTlsCa: string | undefined;
  upstreamTlsCert: string | undefined;
  upstreamTlsKey: string | undefined;
  upstreamTlsInsecure: boolean;
  upstreams: readonly Upstream[];
}

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
  // Each file is checked whatever else is wrong, so every problem shows in one round.
  const usable = (what: string, build: () => void): void => {
    try {
      build();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  if (given('tlsCert') && given('tlsKey')) {
    usable('--tls-cert/--tls-key', () => createSecureContext({ cert: read(config.tlsCert), key: read(config.tlsKey) }));
  }
  for (const [key, name] of [['tlsClientCa', '--tls-client-ca'], ['upstreamTlsCa', '--upstream-tls-ca']] as const) {
    if (!given(key)) continue;
    const problem = caBundleProblem(read(config[key]));
    if (problem !== undefined) problems.push(`${name}: "${config[key]}" ${problem}`);
    else usable(name, () => createSecureContext({ ca: read(config[key]) }));
  }
  if (given('upstreamTlsCert') && given('upstreamTlsKey')) {
    usable('--upstream-tls-cert/--upstream-tls-key', () =>
      createSecureContext({ cert: read(config.upstreamTlsCert), key: read(config.upstreamTlsKey) }));
  }
  return problems;
}

function read(path: string | undefined): Buffer {
  return readFileSync(path!);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Why a CA bundle would verify nothing ("is empty; ..."), or undefined when it holds at least
 * one readable PEM certificate. Node's TLS takes a file without one (empty, garbage, a key,
 * DER) silently and then refuses every peer: the proxy would report ready and fail every
 * connection.
 */
export function caBundleProblem(pem: Buffer): string | undefined {
  const text = pem.toString('latin1');
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    if (text.trim() === '') return 'is empty; expected PEM certificates (-----BEGIN CERTIFICATE-----)';
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return 'holds a private key, not a certificate; expected the CA\'s PEM certificate(s)';
    // DER starts with an ASN.1 SEQUENCE (0x30) and a length.
    if (pem[0] === 0x30) return 'looks like DER; expected PEM (convert it: openssl x509 -inform der -in ca.der -out ca.pem)';
    return 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)';
  }
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return `holds a certificate that cannot be read (number ${i + 1} of ${blocks.length}: ${(err as Error).message})`;
    }
  }
  return undefined;
}
