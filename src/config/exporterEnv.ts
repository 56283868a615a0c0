import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';

/**
 * Variables that the OTLP exporter reads from the environment itself (docs/OPERATIONS.md,
 * "Exporting spans"), checked at start. When one of them is malformed the exporter only
 * emits an OpenTelemetry diag warning (one line in the log, see trace/diagLog.ts) and
 * carries on without it: a
 * typo in an authentication header, a compression name or a certificate path would show up
 * much later as exports the collector refuses. Values are never quoted (headers carry
 * credentials).
 */
const SIGNALS = ['OTEL_EXPORTER_OTLP_', 'OTEL_EXPORTER_OTLP_TRACES_'] as const;

export function exporterEnvProblems(env: NodeJS.ProcessEnv, endpoint: string): string[] {
  const problems: string[] = [];
  const set = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  for (const prefix of SIGNALS) {
    const headers = set(`${prefix}HEADERS`);
    if (headers !== undefined) problems.push(...headerProblems(`${prefix}HEADERS`, headers));
    const compression = set(`${prefix}COMPRESSION`);
    if (compression !== undefined && compression !== 'gzip' && compression !== 'none') {
      problems.push(`${prefix}COMPRESSION: expected gzip or none, got "${compression}"`);
    }
  }
  // The traces form wins when set, as the exporter resolves them.
  const effective = (suffix: string): { name: string; path: string } | undefined => {
    for (const prefix of [...SIGNALS].reverse()) {
      const path = set(`${prefix}${suffix}`);
      if (path !== undefined) return { name: `${prefix}${suffix}`, path };
    }
    return undefined;
  };
  const ca = effective('CERTIFICATE');
  const cert = effective('CLIENT_CERTIFICATE');
  const key = effective('CLIENT_KEY');
  const given = [ca, cert, key].filter((f) => f !== undefined);
  for (const file of given) {
    try {
      readFileSync(resolve(file.path));
    } catch (err) {
      problems.push(`${file.name}: cannot read "${file.path}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (problems.length > 0) return problems;
  if (given.length > 0 && !endpoint.toLowerCase().startsWith('https://')) {
    problems.push(`${given.map((f) => f.name).join(', ')} set, but the OTLP endpoint is not https:// (plaintext gRPC uses no certificate): `
      + 'make the endpoint https://');
  }
  if ((cert === undefined) !== (key === undefined)) {
    const [has, lacks] = cert ? [cert.name, 'OTEL_EXPORTER_OTLP_CLIENT_KEY'] : [key!.name, 'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE'];
    problems.push(`${has} is set but ${lacks} is not: both are needed for mutual TLS`);
  }
  const usable = (what: string, build: () => void): void => {
    try {
      build();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  // A CA bundle with no certificate in it is accepted by Node and by gRPC alike, and then
  // verifies nothing: its first certificate must parse.
  if (ca) usable(ca.name, () => new X509Certificate(firstCertificate(readFileSync(resolve(ca.path), 'utf8'))));
  if (cert && key) {
    usable(`${cert.name}/${key.name}`, () => createSecureContext({ cert: readFileSync(resolve(cert.path)), key: readFileSync(resolve(key.path)) }));
  }
  return problems;
}

/**
 * The values of the exporter's headers as written and as percent-decoded, and any whole
 * entry that is not key=value: what must never reach a log line (they carry API keys and
 * bearer tokens; the exporter's own diag warnings quote them).
 */
export function exporterSecrets(env: NodeJS.ProcessEnv): string[] {
  const secrets = new Set<string>();
  for (const prefix of SIGNALS) {
    for (const { entry, value } of headerEntries(env[`${prefix}HEADERS`] ?? '')) {
      for (const secret of [value, entry.trim()]) {
        if (secret === '') continue;
        secrets.add(secret);
        try {
          secrets.add(decodeURIComponent(secret));
        } catch { /* not percent-encoded */ }
      }
    }
  }
  return [...secrets];
}

function headerEntries(raw: string): { entry: string; key: string; value: string }[] {
  return raw.split(',').map((entry) => {
    const eq = entry.indexOf('=');
    return { entry, key: eq < 0 ? '' : entry.slice(0, eq).trim(), value: eq < 0 ? '' : entry.slice(eq + 1).trim() };
  });
}

/** key=value pairs, comma-separated, percent-encoded (the exporter drops any other entry silently). */
function headerProblems(name: string, raw: string): string[] {
  const problems: string[] = [];
  headerEntries(raw).forEach(({ entry, key, value }, i) => {
    if (entry.trim() === '') return;
    if (key === '' || value === '') {
      problems.push(`${name}: entry ${i + 1} is not key=value with a value (the value is not shown)`);
      return;
    }
    try {
      decodeURIComponent(key);
      decodeURIComponent(value);
    } catch {
      problems.push(`${name}: entry ${i + 1} is not valid percent-encoding`);
    }
  });
  return problems;
}

function firstCertificate(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  if (match === null) throw new Error('no PEM certificate in the file');
  return match[0];
}
