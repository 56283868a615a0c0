import type { HostPort } from './options';
import type { Upstream } from './upstream';

/**
 * Which addresses one socket bind would conflict with, decided from the text alone (no DNS):
 * the same port on the same address, or on a wildcard that covers it. On Linux, binding
 * 127.0.0.1:P while 0.0.0.0:P is held fails with EADDRINUSE (no SO_REUSEPORT here), and
 * Node listens on `::` dual-stack, so `::` covers every IPv4 address too. `localhost` may
 * resolve to either loopback. A host name other than localhost is compared by name only.
 */
export function addressesOverlap(a: HostPort, b: HostPort): boolean {
  // Port 0 asks the kernel for a free port: it never collides.
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  const x = hostForms(a.host);
  const y = hostForms(b.host);
  if (x.wildcard === 'any' || y.wildcard === 'any') return true;
  if (x.wildcard === 'ipv4') return y.ipv4 || y.name;
  if (y.wildcard === 'ipv4') return x.ipv4 || x.name;
  return x.addresses.some((address) => y.addresses.includes(address));
}

interface HostForms {
  readonly wildcard: 'any' | 'ipv4' | undefined;
  readonly ipv4: boolean;
  /** A name we cannot resolve here: it may be any of this machine's addresses. */
  readonly name: boolean;
  readonly addresses: readonly string[];
}

function hostForms(raw: string): HostForms {
  const host = raw.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (host === '' || host === '::' || host === '0:0:0:0:0:0:0:0') return { wildcard: 'any', ipv4: false, name: false, addresses: [] };
  if (host === '0.0.0.0') return { wildcard: 'ipv4', ipv4: true, name: false, addresses: [] };
  if (host === 'localhost') return { wildcard: undefined, ipv4: true, name: false, addresses: ['127.0.0.1', '::1'] };
  const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
  const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/.exec(host)?.[1];
  return {
    wildcard: undefined,
    ipv4: ipv4 || mapped !== undefined,
    name: !ipv4 && !host.includes(':'),
    addresses: [mapped ?? (host === '0:0:0:0:0:0:0:1' ? '::1' : host)],
  };
}

export interface Listener {
  /** The option that sets it, as an operator would search for it: "--metrics-listen (METRICS_LISTEN)". */
  readonly option: string;
  readonly address: HostPort;
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

const LISTEN_FAILURES: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (by another proxy or another program)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now',
};

/**
 * The one line an operator needs when a listener cannot open: the address, the option that
 * sets it (`option` as an operator searches for it, e.g. "--listen (WEBHOOK_LISTEN)"), why.
 */
export function cannotListen(address: HostPort, option: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why = LISTEN_FAILURES[code] ?? (err as Error).message;
  return `cannot listen on ${formatHostPort(address)}, set by ${option}: ${why}${code ? ` [${code}]` : ''}`;
}

/**
 * Listeners that would take each other's address, and upstreams that are the proxy's own
 * AMQP listener (every client connection would connect to the proxy itself, again and again).
 */
export function listenerProblems(listeners: readonly Listener[], upstreams: readonly Upstream[] | undefined, upstreamOption: string): string[] {
  const problems: string[] = [];
  for (let i = 0; i < listeners.length; i++) {
    for (let j = i + 1; j < listeners.length; j++) {
      const a = listeners[i]!;
      const b = listeners[j]!;
      if (!addressesOverlap(a.address, b.address)) continue;
      problems.push(`${a.option} ${formatHostPort(a.address)} and ${b.option} ${formatHostPort(b.address)} `
        + `are the same address (port ${a.address.port}): give each listener its own port`);
    }
  }
  const amqp = listeners[0];
  for (const upstream of upstreams ?? []) {
    if (amqp !== undefined && connectsToListener(upstream, amqp.address)) {
      problems.push(`${upstreamOption} ${upstream.label} is this proxy's own ${amqp.option} ${formatHostPort(amqp.address)}: `
        + 'point it at the broker');
    }
  }
  return problems;
}

/**
 * Whether connecting to `upstream` reaches `listen` on this machine. Only what is certainly
 * local counts (a loopback address, a wildcard, or the very host the proxy listens on): a
 * remote broker on the proxy's port number is a normal setup.
 */
function connectsToListener(upstream: Upstream, listen: HostPort): boolean {
  if (upstream.port !== listen.port || listen.port === 0) return false;
  const host = upstream.host.toLowerCase();
  const local = host === 'localhost' || host === '::1' || host === '::' || host === '0.0.0.0' || /^127\./.test(host)
    || host === listen.host.toLowerCase();
  return local && addressesOverlap({ host, port: upstream.port }, listen);
}
