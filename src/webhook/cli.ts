/**
 * `amqp-trace-proxy webhook`: the sidecar-injection admission webhook, served by the same
 * program and image as the proxy. Options: defaults < environment < flags; every bad value
 * is reported at once.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

import pino from 'pino';

import { cannotListen } from '../config/listeners';

import { DEFAULT_ENV_VARS, DEFAULT_MODE_CONFIGMAP, ENV_VARS_KEY, INJECT_KEY, UPSTREAM_KEY } from './names';
import { DEFAULT_WEBHOOK_LIMITS, close, createWebhookServer, listen, reloadTlsOnChange, type TlsMaterial, type WebhookLimits } from './server';
import { DEFAULT_INJECTION_SETTINGS, DERIVED_SIDECAR_ENV, type InjectionSettings, type SecretKeyRef } from './sidecar';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface WebhookCommandConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls?: TlsFiles;
  readonly logLevel: string;
  readonly settings: InjectionSettings;
  readonly limits: WebhookLimits;
}

export type WebhookArgs =
  | { readonly kind: 'help' }
  | { readonly kind: 'invalid'; readonly problems: readonly string[]; readonly tls?: TlsFiles }
  | { readonly kind: 'ok'; readonly config: WebhookCommandConfig };

interface Spec {
  readonly flag: string;
  readonly env?: string;
  readonly defaultValue?: string;
  readonly repeatable?: boolean;
  readonly help: string;
  /** A bound on what a caller can make the webhook hold: listed in docs/SECURITY.md's limits table. */
  readonly limit?: true;
}

const SPECS: readonly Spec[] = [
  { flag: '--listen', env: 'WEBHOOK_LISTEN', defaultValue: '0.0.0.0:8443', help: 'host:port to serve /mutate, /mutate/opt-in and /healthz on' },
  { flag: '--tls-cert', env: 'WEBHOOK_TLS_CERT', help: 'PEM certificate file (re-read every 30 s); without it the webhook serves plain HTTP, for tests only' },
  { flag: '--tls-key', env: 'WEBHOOK_TLS_KEY', help: 'PEM private key file, given together with --tls-cert' },
  { flag: '--sidecar-image', env: 'WEBHOOK_SIDECAR_IMAGE', help: 'image of the injected proxy (required)' },
  { flag: '--sidecar-pull-policy', env: 'WEBHOOK_SIDECAR_PULL_POLICY', defaultValue: 'IfNotPresent', help: 'Always, IfNotPresent or Never' },
  { flag: '--sidecar-env', repeatable: true, help: `KEY=VALUE added to the sidecar's env (repeat it; e.g. OTEL_EXPORTER_OTLP_ENDPOINT=...); not ${DERIVED_SIDECAR_ENV.join(', ')}; a literal in every pod spec, so no secrets` },
  { flag: '--sidecar-env-secret', repeatable: true, help: 'KEY=SECRET/SECRETKEY: the sidecar\'s env KEY from that key of a Secret in the pod\'s namespace (valueFrom.secretKeyRef; repeat it; e.g. OTEL_EXPORTER_OTLP_HEADERS=otel-auth/headers)' },
  { flag: '--env-vars', env: 'WEBHOOK_ENV_VARS', defaultValue: DEFAULT_ENV_VARS.join(','), help: `env vars holding broker URLs, when a pod has no ${ENV_VARS_KEY} annotation` },
  { flag: '--mode-configmap', env: 'WEBHOOK_MODE_CONFIGMAP', defaultValue: DEFAULT_MODE_CONFIGMAP, help: 'ConfigMap (key "mode": tracing or bypass) mounted into every sidecar, optional' },
  { flag: '--rewrite-host', env: 'WEBHOOK_REWRITE_HOST', defaultValue: '127.0.0.1', help: 'loopback address applications are pointed at: 127.0.0.1 or ::1' },
  { flag: '--log-level', env: 'LOG_LEVEL', defaultValue: 'info', help: 'fatal, error, warn, info, debug, trace or silent' },
  { flag: '--max-body-bytes', env: 'WEBHOOK_MAX_BODY_BYTES', defaultValue: String(DEFAULT_WEBHOOK_LIMITS.maxBodyBytes), limit: true,
    help: 'a larger AdmissionReview is refused with 413 (injection skipped, logged), unread when its Content-Length says so' },
  { flag: '--max-concurrent-reviews', env: 'WEBHOOK_MAX_CONCURRENT_REVIEWS', defaultValue: String(DEFAULT_WEBHOOK_LIMITS.maxConcurrentReviews), limit: true,
    help: 'reviews read and answered at once; more wait, their bodies unread' },
  { flag: '--max-connections', env: 'WEBHOOK_MAX_CONNECTIONS', defaultValue: String(DEFAULT_WEBHOOK_LIMITS.maxConnections), limit: true,
    help: 'connections open at once; more are closed at accept' },
  { flag: '--request-timeout-ms', env: 'WEBHOOK_REQUEST_TIMEOUT_MS', defaultValue: String(DEFAULT_WEBHOOK_LIMITS.requestTimeoutMs), limit: true,
    help: 'a request must arrive whole within this time, and a connection that sends nothing is closed after it' },
];

export const WEBHOOK_HELP = [
  'Usage: amqp-trace-proxy webhook [options]',
  '',
  'Mutating admission webhook that injects amqp-trace-proxy as a native sidecar and points the',
  'application\'s broker URL env vars at it. Options (flags override environment variables):',
  '',
  ...SPECS.map((s) => {
    const name = s.flag === '--sidecar-env-secret' ? `${s.flag} KEY=S/K` : s.repeatable ? `${s.flag} KEY=VALUE` : `${s.flag} VALUE`;
    const meta = [s.env ? `env ${s.env}` : undefined, s.defaultValue !== undefined ? `default ${s.defaultValue}` : undefined].filter(Boolean).join(', ');
    return `  ${name.padEnd(32)}${s.help}${meta ? ` [${meta}]` : ''}`;
  }),
  `  ${'--help'.padEnd(32)}print this text`,
  '',
  'Pod annotations:',
  `  ${`${INJECT_KEY}: "true" | "false"`.padEnd(48)}opt in (namespace not labelled) or out`,
  `  ${`${ENV_VARS_KEY}: A,B`.padEnd(48)}env vars to rewrite, instead of --env-vars`,
  `  ${`${UPSTREAM_KEY}: amqps://host:5671`.padEnd(48)}the sidecar's upstream when no env var can be rewritten`,
  '',
  'See docs/DEPLOY.md.',
  '',
].join('\n');

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The options marked `limit: true`, as docs/SECURITY.md's limits table shows them. */
export function webhookLimitOptions(): { names: string; shownDefault: string; help: string }[] {
  return SPECS.filter((s) => s.limit).map((s) => ({ names: s.env ? `${s.flag} / ${s.env}` : s.flag, shownDefault: s.defaultValue ?? '(none)', help: s.help }));
}

/** Pure: reads flags and environment, returns the configuration or every problem found. */
export function parseWebhookArgs(argv: readonly string[], env: NodeJS.ProcessEnv): WebhookArgs {
  const problems: string[] = [];
  const given = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const spec = SPECS.find((s) => s.flag === flag);
    if (!spec) {
      problems.push(arg.startsWith('-') ? `unknown option ${flag}` : `unexpected argument "${arg}"`);
      continue;
    }
    let value: string | undefined = eq > 0 && flag !== arg ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) {
      problems.push(`${flag} needs a value`);
      value = '';
    }
    const values = given.get(flag) ?? [];
    if (values.length > 0 && !spec.repeatable) problems.push(`${flag} is given more than once`);
    given.set(flag, [...values, value]);
  }

  /** The winning raw value and where it came from, for messages. */
  const raw = (flag: string): { value: string | undefined; from: string } => {
    const spec = SPECS.find((s) => s.flag === flag)!;
    const fromFlag = given.get(flag);
    if (fromFlag) return { value: fromFlag[fromFlag.length - 1], from: flag };
    const fromEnv = spec.env ? env[spec.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, from: spec.env! };
    return { value: spec.defaultValue, from: flag };
  };

  const listenRaw = raw('--listen');
  const listen = parseListen(listenRaw.value ?? '');
  if (!listen) problems.push(`${listenRaw.from}: expected host:port with a port from 0 to 65535, got "${listenRaw.value}"`);

  const cert = raw('--tls-cert').value;
  const key = raw('--tls-key').value;
  if ((cert === undefined) !== (key === undefined)) problems.push('--tls-cert and --tls-key must be given together');
  const tls = cert !== undefined && key !== undefined ? { certFile: cert, keyFile: key } : undefined;

  const image = raw('--sidecar-image');
  if (image.value === undefined) problems.push('--sidecar-image (or WEBHOOK_SIDECAR_IMAGE) is required');
  else if (image.value.trim() === '' || /\s/.test(image.value)) problems.push(`${image.from}: "${image.value}" is not an image reference`);

  const pull = raw('--sidecar-pull-policy');
  const pullPolicies = ['Always', 'IfNotPresent', 'Never'] as const;
  const imagePullPolicy = pullPolicies.find((p) => p === pull.value);
  if (!imagePullPolicy) problems.push(`${pull.from}: expected Always, IfNotPresent or Never, got "${pull.value}"`);

  const sidecarEnv: [string, string | SecretKeyRef][] = [];
  const envEntry = (flag: string, pair: string): [string, string] | undefined => {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    if (!ENV_NAME.test(name)) problems.push(`${flag}: expected KEY=${flag === '--sidecar-env' ? 'VALUE' : 'SECRET/SECRETKEY'}, got "${eq > 0 ? name : pair.slice(0, 64)}"`);
    else if (DERIVED_SIDECAR_ENV.includes(name)) problems.push(`${flag}: ${name} is set by the webhook and cannot be overridden`);
    else return [name, pair.slice(eq + 1)];
    return undefined;
  };
  for (const pair of given.get('--sidecar-env') ?? []) {
    const entry = envEntry('--sidecar-env', pair);
    if (entry) sidecarEnv.push(entry);
  }
  for (const pair of given.get('--sidecar-env-secret') ?? []) {
    const entry = envEntry('--sidecar-env-secret', pair);
    if (!entry) continue;
    const [secret = '', key = '', extra] = entry[1].split('/');
    if (extra !== undefined || !DNS_SUBDOMAIN.test(secret) || !SECRET_KEY.test(key)) {
      problems.push(`--sidecar-env-secret: ${entry[0]}: expected SECRET/SECRETKEY (a Secret's name and one of its keys), got "${entry[1]}"`);
    } else {
      sidecarEnv.push([entry[0], { secret, key }]);
    }
  }

  const envVars = raw('--env-vars');
  const envVarNames = (envVars.value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const badNames = envVarNames.filter((n) => !ENV_NAME.test(n));
  if (envVarNames.length === 0) problems.push(`${envVars.from}: needs at least one env var name`);
  if (badNames.length > 0) problems.push(`${envVars.from}: not env var names: ${badNames.map((n) => `"${n}"`).join(', ')}`);

  const configMap = raw('--mode-configmap');
  if (!DNS_SUBDOMAIN.test(configMap.value ?? '')) problems.push(`${configMap.from}: "${configMap.value}" is not a valid ConfigMap name`);

  const hostRaw = raw('--rewrite-host');
  const rewriteHost = hostRaw.value === '127.0.0.1' || hostRaw.value === '::1' ? hostRaw.value : undefined;
  if (!rewriteHost) problems.push(`${hostRaw.from}: expected 127.0.0.1 or ::1, got "${hostRaw.value}"`);

  const level = raw('--log-level');
  if (!LOG_LEVELS.includes(level.value ?? '')) problems.push(`${level.from}: expected one of ${LOG_LEVELS.join(', ')}, got "${level.value}"`);

  const whole = (flag: string, min: number, max: number): number => {
    const { value, from } = raw(flag);
    const n = /^\d+$/.test(value ?? '') ? Number(value) : NaN;
    if (!(n >= min && n <= max)) problems.push(`${from}: expected a whole number from ${min} to ${max}, got "${value}"`);
    return n;
  };
  const limits: WebhookLimits = {
    maxBodyBytes: whole('--max-body-bytes', 1024, 64 * 1024 * 1024),
    maxConcurrentReviews: whole('--max-concurrent-reviews', 1, 1000),
    maxConnections: whole('--max-connections', 1, 100_000),
    requestTimeoutMs: whole('--request-timeout-ms', 100, 600_000),
  };

  if (problems.length > 0 || !listen || !imagePullPolicy || !rewriteHost || image.value === undefined) {
    return tls ? { kind: 'invalid', problems, tls } : { kind: 'invalid', problems };
  }
  const settings: InjectionSettings = {
    ...DEFAULT_INJECTION_SETTINGS,
    sidecarImage: image.value,
    imagePullPolicy,
    envVarNames,
    rewriteHost,
    modeConfigMap: configMap.value!,
    sidecarEnv,
  };
  const config: WebhookCommandConfig = tls
    ? { listen, tls, logLevel: level.value!, settings, limits }
    : { listen, logLevel: level.value!, settings, limits };
  return { kind: 'ok', config };
}

/** A flag as an operator searches for it: "--listen (WEBHOOK_LISTEN)". */
function optionLabel(flag: string): string {
  const spec = SPECS.find((s) => s.flag === flag)!;
  return spec.env ? `${spec.flag} (${spec.env})` : spec.flag;
}

function parseListen(raw: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/**
 * Runs the webhook until SIGTERM or SIGINT. `argv` holds the arguments after `webhook`
 * (a leading "webhook" is accepted too). On bad configuration it prints every problem to
 * stderr, sets process.exitCode = 2 and returns without listening. `processWide` gets the logger
 * once the configuration is valid, for main.ts to install process-level handlers with.
 */
export async function runWebhookCommand(argv: string[], env: NodeJS.ProcessEnv, processWide?: (log: pino.Logger) => void): Promise<void> {
  const args = parseWebhookArgs(argv[0] === 'webhook' ? argv.slice(1) : argv, env);
  if (args.kind === 'help') {
    process.stdout.write(WEBHOOK_HELP);
    return;
  }
  const problems = args.kind === 'invalid' ? [...args.problems] : [];
  const tlsFiles = args.kind === 'invalid' ? args.tls : args.config.tls;
  let tls: TlsMaterial | undefined;
  if (tlsFiles) {
    const [cert, key] = await Promise.all([readable(tlsFiles.certFile, '--tls-cert', problems), readable(tlsFiles.keyFile, '--tls-key', problems)]);
    if (cert && key) tls = { cert, key };
    const mismatch = tls ? unusablePair(tls) : undefined;
    if (mismatch !== undefined) problems.push(`--tls-cert and --tls-key: ${mismatch}`);
  }
  if (args.kind === 'invalid' || problems.length > 0) {
    process.stderr.write(`amqp-trace-proxy webhook: invalid configuration:\n${problems.map((p) => `  - ${p}\n`).join('')}Run with --help for the options.\n`);
    process.exitCode = 2;
    return;
  }
  const { config } = args;
  const log = pino({
    level: config.logLevel,
    base: { service: 'amqp-trace-proxy-webhook' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
  processWide?.(log);
  const server = createWebhookServer({ settings: config.settings, log, limits: config.limits, ...(tls ? { tls } : {}) });
  try {
    const addr = await listen(server, config.listen.host, config.listen.port);
    log.info({ address: addr.address, port: addr.port, tls: tls !== undefined, sidecarImage: config.settings.sidecarImage }, 'webhook listening');
  } catch (err) {
    // One line on stderr and exit 1, as the proxy does when a listener cannot open.
    process.stderr.write(`amqp-trace-proxy webhook: could not start: ${cannotListen(config.listen, optionLabel('--listen'), err)}\n`);
    process.exitCode = 1;
    return;
  }
  const stopReload = tls && tlsFiles && 'setSecureContext' in server ? reloadTlsOnChange(server, tlsFiles, tls, log) : () => {};
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      log.info({ signal }, 'webhook stopping');
      stopReload();
      void close(server, 5_000).then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/** Why Node cannot serve with this certificate and key (a key of another certificate, not PEM), or undefined. */
function unusablePair(tls: TlsMaterial): string | undefined {
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
    return undefined;
  } catch (err) {
    const reason = (err as Error).message;
    return /mismatch/i.test(reason) ? 'the key does not belong to the certificate' : `not a usable certificate and key (${reason})`;
  }
}

async function readable(file: string, flag: string, problems: string[]): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    problems.push(`${flag}: cannot read "${file}" (${code})`);
    return undefined;
  }
}
