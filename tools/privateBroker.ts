/**
 * A private RabbitMQ node for one test or one benchmark run: its own node name, AMQP and distribution ports
 * (below the kernel's ephemeral range, so a restart gets them back; see stablePort),
 * Erlang cookie and data under a temporary directory, no plugins, and a file-descriptor
 * limit high enough for thousands of connections. Tests that must restart a broker, or need
 * more sockets than the shared one allows (about 830), use it so the shared broker at
 * 127.0.0.1:5672 is never touched; so does the benchmark's idle workload, to measure 1,000
 * real connections. It lives in tools/, which test/ and bench/ both import and which imports
 * neither (test/unit/architecture.test.ts checks it); test/support/secondBroker.ts re-exports it.
 *
 * The node runs in the foreground under the stock `rabbitmq-server` script, in its own process
 * group. The script passes SIGTERM on to the Erlang VM, which RabbitMQ treats as a graceful
 * stop (queues and message stores are closed, as with `rabbitmqctl stop`); the group is
 * SIGKILLed when that takes too long. A process-exit hook SIGKILLs nodes a test left running,
 * and a watchdog in the wrapper stops the node when the test process dies without running it
 * (SIGKILL, SIGTERM, Ctrl-C). Start: 3-7 s on a 2-CPU machine; graceful stop: about 1 s.
 *
 * Nothing here reads the shared node's cookie: HOME is the temporary directory, holding a
 * fresh cookie, so `HOME=<dir> rabbitmqctl -n <nodeName> ...` reaches this node and only it.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as amqp from 'amqplib';
import { stablePort } from './freePort';

export interface SecondBroker {
  readonly nodeName: string;
  readonly port: number;
  /** amqp:// URL with guest/guest (guest may log in over loopback). */
  readonly url: string;
  /** Temporary directory with the node's HOME, config, mnesia and logs; removed by stop(). */
  readonly dir: string;
  /** Milliseconds from spawn until the last start accepted an AMQP connection. */
  readonly startupMs: number;
  /** Graceful stop and start on the same ports and data: durable queues and persistent messages survive. */
  restart(): Promise<void>;
  /** Graceful stop (SIGKILL after `stopTimeoutMs`), then the directory is removed. Safe to call twice. */
  stop(): Promise<void>;
  /** The node's log file and console output, for failure messages. */
  log(): string;
}

export interface SecondBrokerOptions {
  /** Allowed time from spawn until AMQP connections are accepted (default 60 s). */
  startTimeoutMs?: number;
  /** Allowed time for a graceful stop before SIGKILL (default 20 s). */
  stopTimeoutMs?: number;
}

/** Where the server script lives: Debian's /usr/sbin wrapper would `su rabbitmq` and lose our environment. */
function serverScripts(): string[] {
  const chosen = process.env.TEST_RABBITMQ_SERVER;
  return chosen ? [chosen] : ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/local/lib/rabbitmq/bin/rabbitmq-server'];
}

/**
 * Raises the fd limit (RabbitMQ sizes its socket limit from it), starts a watchdog, then becomes
 * the server script ($0). When the test process ($1) goes away without stopping the node, the
 * watchdog stops it gracefully (SIGKILL after 20 s) and removes its directory ($2).
 */
const WRAPPER = [
  'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"',
  'parent=$1 dir=$2 self=$$',
  '( while kill -0 "$parent" 2>/dev/null && kill -0 "$self" 2>/dev/null; do sleep 1; done',
  '  kill -0 "$parent" 2>/dev/null && exit 0',
  '  kill -TERM "$self" 2>/dev/null',
  '  for i in $(seq 20); do kill -0 "$self" 2>/dev/null || break; sleep 1; done',
  '  kill -0 "$self" 2>/dev/null && kill -KILL -"$self"',
  '  rm -rf "$dir" ) &',
  'exec "$0"',
].join('\n');

const live = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: no graceful stop here, only SIGKILL and rm.
  process.on('exit', () => { for (const kill of live) kill(); });
}

let sequence = 0;

export async function startSecondBroker(options: SecondBrokerOptions = {}): Promise<SecondBroker> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
  const candidates = serverScripts();
  const script = candidates.find((p) => existsSync(p));
  if (!script) {
    throw new Error(`second RabbitMQ node: no rabbitmq-server script at ${candidates.join(', ')} ` +
      '(run ./scripts/install-system-deps.sh, which installs what scripts/host-deps.tsv lists, or set TEST_RABBITMQ_SERVER to its bin/rabbitmq-server)');
  }
  const clusterName = `atp-test-${process.pid}-${sequence++}`;
  const nodeName = `${clusterName}@localhost`;
  // A restart binds these ports again: they come from outside the ephemeral range, where
  // nothing else on the machine is handed them while the node is down.
  const port = await stablePort();
  let distPort = await stablePort();
  while (distPort === port) distPort = await stablePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-rabbit-'));
  const file = (name: string): string => path.join(dir, name);
  mkdirSync(file('mnesia'));
  mkdirSync(file('log'));
  writeFileSync(file('enabled_plugins'), '[].\n');
  writeFileSync(file('rabbitmq-env.conf'), '');
  // cluster_name is announced in connection.start: how a start knows it is this node that answers.
  writeFileSync(file('rabbitmq.conf'), ['loopback_users.guest = true', 'log.console = false', 'log.file.level = info',
    `cluster_name = ${clusterName}`, ''].join('\n'));
  writeFileSync(file('.erlang.cookie'), randomBytes(24).toString('hex'), { mode: 0o400 });
  const logFile = file(path.join('log', `${nodeName}.log`));
  const consoleFile = file('console.log');

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: dir,
    // An empty env file, so /etc/rabbitmq/rabbitmq-env.conf (NODENAME of the shared node) is not read.
    RABBITMQ_CONF_ENV_FILE: file('rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: file('rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: file('advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: file('enabled_plugins'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: file('mnesia'),
    RABBITMQ_LOG_BASE: file('log'),
    RABBITMQ_PID_FILE: file('rabbitmq.pid'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const url = `amqp://guest:guest@127.0.0.1:${port}`;

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let startupMs = 0;
  let removed = false;

  const log = (): string => [logFile, consoleFile]
    .map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } })
    .join('\n');

  const killGroup = (): void => {
    if (child?.pid === undefined) return;
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  const emergency = (): void => {
    killGroup();
    if (!removed) rmSync(dir, { recursive: true, force: true });
  };

  const launch = async (): Promise<void> => {
    const out = openSync(consoleFile, 'a');
    const started = Date.now();
    const proc = spawn('bash', ['-c', WRAPPER, script, String(process.pid), dir], {
      cwd: dir, env, detached: true, stdio: ['ignore', out, out],
    });
    closeSync(out);
    // A node left running must not keep the test process alive; the exit hook kills it.
    proc.unref();
    child = proc;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    exited = new Promise((resolve) => proc.once('exit', (code, signal) => { exit = { code, signal }; resolve(); }));
    live.add(emergency);
    installExitHook();
    const deadline = started + startTimeoutMs;
    // Another server answering on the port means it was taken while this node was down; the node
    // then fails to listen, and its clients would carry on against that server unnoticed.
    let other = '';
    const otherAnswered = (): string => (other ? `; port ${port} was answered by another AMQP server (cluster_name ${other})` : '');
    for (;;) {
      if (exit) throw new Error(startFailure(nodeName, `exited with ${exit.signal ?? `code ${exit.code}`}${otherAnswered()}`, log()));
      if (Date.now() > deadline) {
        killGroup();
        await exited;
        throw new Error(startFailure(nodeName, `did not accept AMQP connections on port ${port} within ${startTimeoutMs} ms${otherAnswered()}`, log()));
      }
      const answer = await amqpClusterName(url);
      if (answer === clusterName) break;
      if (answer !== undefined) other = answer;
      await new Promise((r) => setTimeout(r, 100));
    }
    startupMs = Date.now() - started;
  };

  const halt = async (): Promise<void> => {
    const proc = child;
    if (proc?.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) {
      killGroup();
      return;
    }
    // Held while we wait for it: once the SIGKILL below has fired, its exit is the only thing
    // left to wait for, and an unref'd child would let the test process end before it comes.
    proc.ref();
    proc.kill('SIGTERM');
    const timer = setTimeout(killGroup, stopTimeoutMs);
    await exited;
    clearTimeout(timer);
    // The watchdog and the Erlang port programs are in the group too.
    killGroup();
  };

  try {
    await launch();
  } catch (err) {
    killGroup();
    live.delete(emergency);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    nodeName,
    port,
    url,
    dir,
    get startupMs() { return startupMs; },
    log,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      live.delete(emergency);
      if (!removed) rmSync(dir, { recursive: true, force: true });
      removed = true;
    },
  };
}

/** The cluster_name of the AMQP server that accepts a connection at `url`, or undefined when none does. */
async function amqpClusterName(url: string): Promise<string | undefined> {
  try {
    const conn = await amqp.connect(url, { timeout: 2000 });
    conn.on('error', () => undefined);
    const name = conn.connection.serverProperties?.cluster_name;
    await conn.close().catch(() => undefined);
    return typeof name === 'string' ? name : String(name);
  } catch {
    return undefined;
  }
}

/**
 * The reason in RabbitMQ's own words: its first [error] line and Erlang's "init terminating
 * in do_boot" line, else the log's last lines. Full log: SecondBroker.log() or the directory.
 */
function startFailure(nodeName: string, what: string, log: string): string {
  const lines = log.split('\n').filter((l) => l.trim() !== '').map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l));
  const firstError = lines.find((l) => l.includes('[error]'));
  const boot = lines.filter((l) => l.startsWith('init terminating in do_boot')).slice(-1);
  const reason = firstError || boot.length > 0 ? [firstError ?? '', ...boot].filter(Boolean) : lines.slice(-10);
  return `second RabbitMQ node ${nodeName} ${what}:\n${reason.join('\n') || '(its log is empty)'}`;
}
