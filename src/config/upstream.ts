import { OptionError, redact } from './options';

export { redact };

/** One broker address. Credentials in the URL are ignored: the client authenticates itself. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** host:port, safe to log and to use as a metric label (never carries credentials). */
  readonly label: string;
}

const DEFAULT_PORTS: Record<string, number> = { 'amqp:': 5672, 'amqps:': 5671 };

export function parseUpstream(raw: string): Upstream {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new OptionError(`"${redact(raw)}" is not a URL (expected amqp://host:port or amqps://host:port)`);
  }
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) {
    throw new OptionError(`unsupported scheme "${url.protocol}" in "${redact(raw)}" (use amqp:// or amqps://)`);
  }
  if (!url.hostname) throw new OptionError(`no host in "${redact(raw)}"`);
  // amqp://app:12/ss@rabbit parses as host "app", port 12: the password's first part would become the label.
  if (`${url.pathname}${url.search}${url.hash}`.includes('@')) {
    throw new OptionError(`"${redact(raw)}" has an "@" after the host: percent-encode "/" in a password (%2F) and "@" in a vhost (%40)`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : defaultPort;
  if (port === 0) throw new OptionError(`port 0 in "${redact(raw)}": a broker needs its real port`);
  return { host, port, tls: url.protocol === 'amqps:', label: `${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** A comma-separated list of URLs: a cluster's nodes, tried in order. */
export function parseUpstreamList(raw: string): Upstream[] {
  const parts = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new OptionError('at least one upstream URL is required');
  return parts.map(parseUpstream);
}
