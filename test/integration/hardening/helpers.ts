/**
 * Shared pieces of the hardening tests: a proxy in a child process, a TCP forwarder that
 * plays a broker going away, certificates made with openssl, and a ledger of confirmed and
 * consumed messages that says whether anything was lost.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as amqp from 'amqplib';
import { BROKER_HOST, BROKER_PORT, BROKER_URL } from '../../support/broker';
import { startForwarder as startPortForwarder } from '../../support/forwarder';
import { sleep, waitFor } from '../../support/wait';

const ROOT = path.resolve(__dirname, '../../..');
const MAIN = path.join(ROOT, 'dist/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, name.name);
    newest = Math.max(newest, name.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** dist/main.js, built first when it is missing or older than any source file. */
export function builtProxy(): string {
  let built = 0;
  try {
    built = statSync(MAIN).mtimeMs;
  } catch { /* not built yet */ }
  if (built < newestMtime(path.join(ROOT, 'src'))) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return MAIN;
}

export { freePort, stablePort } from '../../support/ports';

export interface ChildProxy {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the proxy logged, for assertions and for failure messages. */
  output(): string;
  /** The metrics listener's port as bound (METRICS_LISTEN may say port 0); undefined when off. */
  readonly metricsPort?: number;
  /** The admin listener's port as bound (ADMIN_LISTEN may say port 0); undefined when off. */
  readonly adminPort?: number;
}

/** The proxy's "listening" log line, whole: listeningPorts reads the ports from it. */
export const LISTENING_LINE = /amqp-trace-proxy listening"\}\r?\n/;

/** The ports of the proxy's "listening" log line (listen, metrics, admin), as bound. */
export function listeningPorts(log: string): { listen: number; metrics?: number; admin?: number } {
  const line = log.split('\n').find((l) => l.includes('"amqp-trace-proxy listening"'));
  const fields = JSON.parse(line!) as Record<string, string>;
  const portOf = (address: string | undefined): number | undefined =>
    address === undefined || address === 'off' ? undefined : Number(/:(\d+)$/.exec(address)![1]);
  return { listen: portOf(fields.listen)!, metrics: portOf(fields.metrics), admin: portOf(fields.admin) };
}

/**
 * Runs `node dist/main.js` on `port` and resolves once it logs that it is listening.
 * `wrapper` runs it under another command, e.g. `['prlimit', '--nofile=256', '--']`.
 * Port 0 (here, and in METRICS_LISTEN or ADMIN_LISTEN) has the proxy bind one itself, read
 * back from its log: a port taken free beforehand can be given to another process before
 * the child binds it.
 */
export async function startChildProxy(port: number, env: Record<string, string> = {}, wrapper: string[] = []): Promise<ChildProxy> {
  const [command, ...args] = [...wrapper, process.execPath, builtProxy()];
  const child = spawn(command!, args, {
    env: {
      PATH: process.env.PATH ?? '',
      PROXY_LISTEN: `127.0.0.1:${port}`,
      PROXY_UPSTREAM: `amqp://${BROKER_HOST}:${BROKER_PORT}`,
      METRICS_LISTEN: 'off',
      ADMIN_LISTEN: 'off',
      OTEL_TRACES_EXPORTER: 'none',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const deadline = Date.now() + 15_000;
  while (!LISTENING_LINE.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`proxy did not start:\n${log}`);
    }
    await sleep(50);
  }
  const bound = listeningPorts(log);
  return {
    port: bound.listen, url: `amqp://guest:guest@127.0.0.1:${bound.listen}`, process: child, exited, output: () => log,
    ...(bound.metrics === undefined ? {} : { metricsPort: bound.metrics }),
    ...(bound.admin === undefined ? {} : { adminPort: bound.admin }),
  };
}

/** Re-exported for the hardening suites, which import their helpers from here. */
export { sleep, waitFor };

export interface Forwarder {
  readonly port: number;
  /** Cuts every connection and refuses new ones for `ms`: a broker restart, seen from outside. */
  outage(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** A TCP port in front of the shared broker that the test can take down without touching it. */
export async function startForwarder(targetPort = BROKER_PORT): Promise<Forwarder> {
  const forwarder = await startPortForwarder(BROKER_HOST, targetPort);
  return {
    port: forwarder.port,
    async outage(ms) {
      await forwarder.down();
      await sleep(ms);
      await forwarder.up();
    },
    close: () => forwarder.close(),
  };
}

/** Certificates for the TLS tests, in a temporary directory removed by `remove()`. */
export interface TestCerts {
  readonly dir: string;
  /** `${name}.crt` / `${name}.key` under `dir`. */
  file(name: string, ext: 'crt' | 'key'): string;
  /** A key and certificate signed by CA `ca` (itself made with `ca()`), with the given SANs. */
  issue(name: string, ca: string, subjectAltName: string, clientAuth?: boolean): void;
  ca(name: string): void;
  remove(): void;
}

export function testCerts(): TestCerts {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-tls-'));
  const file = (name: string, ext: 'crt' | 'key'): string => path.join(dir, `${name}.${ext}`);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  return {
    dir,
    file,
    ca(name) {
      ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
        '-keyout', file(name, 'key'), '-out', file(name, 'crt'),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    },
    issue(name, ca, subjectAltName, clientAuth = false) {
      const ext = path.join(dir, `${name}.ext`);
      writeFileSync(ext, [
        `subjectAltName=${subjectAltName}`,
        'basicConstraints=CA:FALSE',
        `extendedKeyUsage=${clientAuth ? 'clientAuth' : 'serverAuth'}`,
      ].join('\n'));
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', file(name, 'key'), '-out', `${name}.csr`);
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', file(ca, 'crt'), '-CAkey', file(ca, 'key'), '-CAcreateserial',
        '-days', '2', '-extfile', ext, '-out', file(name, 'crt'));
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function deleteQueues(...queues: string[]): Promise<void> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export async function queueDepth(queue: string): Promise<number> {
  const conn = await amqp.connect(BROKER_URL);
  try {
    const ch = await conn.createChannel();
    return (await ch.checkQueue(queue)).messageCount;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/**
 * Which message ids the broker confirmed and which a consumer received. "Nothing lost" is:
 * every confirmed id was consumed at least once (a redelivery may repeat one; that is
 * at-least-once, as RabbitMQ promises, not a loss).
 */
export class Ledger {
  readonly confirmed = new Set<number>();
  readonly consumed = new Map<number, number>();

  consume(id: number): void {
    this.consumed.set(id, (this.consumed.get(id) ?? 0) + 1);
  }

  missing(): number[] {
    return [...this.confirmed].filter((id) => !this.consumed.has(id));
  }

  get duplicates(): number {
    let n = 0;
    for (const c of this.consumed.values()) n += c - 1;
    return n;
  }

  allConfirmedConsumed(): boolean {
    for (const id of this.confirmed) if (!this.consumed.has(id)) return false;
    return true;
  }
}
