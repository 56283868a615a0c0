/**
 * Pointing an application's broker URL at the sidecar.
 *
 *   amqps://user:pa%40ss@broker.prod:5671/orders?heartbeat=30
 *   \___/   \_________/ \_____________/\____________________/
 *   scheme   userinfo      host:port      rest: vhost, query
 *
 * The application keeps its userinfo and the rest byte for byte (the proxy is transparent:
 * the client still authenticates to the broker and opens its own vhost), and gets
 * `amqp://` + the sidecar's address. The sidecar gets `scheme://host:port` only, so no
 * credential is ever copied into the sidecar's environment. `amqps` becomes `amqp` for the
 * application (loopback inside the pod) and stays `amqps` for the sidecar's upstream.
 *
 * A value may list several URLs separated by `;` (kombu's failover syntax); each is rewritten
 * in place and all of them become upstreams. Anything that does not match the shape exactly
 * is refused rather than guessed at: a wrong rewrite breaks the application, no rewrite only
 * loses the trace.
 */

export interface SidecarAddress {
  readonly host: string;
  readonly port: number;
}

export type RewriteRefusal =
  /** Not scheme://[userinfo@]host[:port][/vhost][?query] with a scheme we know. */
  | 'not-an-amqp-url'
  /** `amqp:///vhost`: the client's own default host, nothing to forward to. */
  | 'no-host'
  /** `$(BROKER_HOST)`: expanded by the kubelet in the app's container only, not in the sidecar's. */
  | 'host-is-a-variable'
  | 'already-points-at-sidecar';

export type Rewrite =
  | { readonly ok: true; readonly appValue: string; readonly upstreams: readonly string[] }
  | { readonly ok: false; readonly reason: RewriteRefusal };

const URL_SHAPE =
  /^(amqps?|pyamqp|librabbitmq):\/\/(?:([^@/?#]*)@)?(\[[0-9A-Fa-f:.]+\]|[^:/?#@[\]]*)(?::(\d{1,5}))?([/?#][\s\S]*)?$/;

const DEFAULT_PORT: Record<string, number> = { amqp: 5672, amqps: 5671, pyamqp: 5672, librabbitmq: 5672 };
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function pointAtSidecar(value: string, sidecar: SidecarAddress): Rewrite {
  const rewritten: string[] = [];
  const upstreams: string[] = [];
  for (const part of value.split(';')) {
    const one = rewriteOne(part, sidecar);
    if (!one.ok) return one;
    rewritten.push(one.appValue);
    for (const u of one.upstreams) if (!upstreams.includes(u)) upstreams.push(u);
  }
  return { ok: true, appValue: rewritten.join(';'), upstreams };
}

function rewriteOne(url: string, sidecar: SidecarAddress): Rewrite {
  const m = URL_SHAPE.exec(url);
  if (!m) return { ok: false, reason: 'not-an-amqp-url' };
  const [, scheme = '', userinfo, rawHost = '', rawPort, rest = ''] = m;
  if (rawHost === '') return { ok: false, reason: 'no-host' };
  if (rawHost.includes('$(')) return { ok: false, reason: 'host-is-a-variable' };
  const port = rawPort === undefined ? DEFAULT_PORT[scheme]! : Number(rawPort);
  if (port < 1 || port > 65535) return { ok: false, reason: 'not-an-amqp-url' };
  // amqp://app:12/ss@rabbit (a password with an unencoded "/") would read as host "app", port 12.
  if (rest.includes('@')) return { ok: false, reason: 'not-an-amqp-url' };
  const host = rawHost.toLowerCase();
  if (port === sidecar.port && (LOOPBACK.has(host) || host === sidecar.host.toLowerCase())) {
    return { ok: false, reason: 'already-points-at-sidecar' };
  }
  const appScheme = scheme === 'amqps' ? 'amqp' : scheme;
  const auth = userinfo === undefined ? '' : `${userinfo}@`;
  return {
    ok: true,
    appValue: `${appScheme}://${auth}${formatHost(sidecar.host)}:${sidecar.port}${rest}`,
    upstreams: [`${scheme === 'amqps' ? 'amqps' : 'amqp'}://${host}:${port}`],
  };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Parses the `upstream` annotation: a comma list of amqp[s]://host[:port] without credentials,
 * vhost or query (the sidecar forwards bytes; it never needs them). Returns the normalised
 * list, or undefined when any entry is not of that form.
 */
export function parseUpstreamAnnotation(value: string): string[] | undefined {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const m = URL_SHAPE.exec(raw.trim());
    if (!m) return undefined;
    const [, scheme = '', userinfo, rawHost = '', rawPort, rest] = m;
    if ((scheme !== 'amqp' && scheme !== 'amqps') || userinfo !== undefined || rawHost === '' || rawHost.includes('$(')) return undefined;
    if (rest !== undefined && rest !== '/') return undefined;
    const port = rawPort === undefined ? DEFAULT_PORT[scheme]! : Number(rawPort);
    if (port < 1 || port > 65535) return undefined;
    const normalised = `${scheme}://${rawHost.toLowerCase()}:${port}`;
    if (!out.includes(normalised)) out.push(normalised);
  }
  return out;
}
