/**
 * Start fully or exit (issue 13): `node dist/main.js` in a child process, as an operator runs
 * it, against real ports that another process holds.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { Server, connect, createServer } from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { BROKER_HOST, BROKER_PORT, requireBroker, uniqueName } from '../support/broker';
import { runPromtool } from '../support/promtool';
import { LISTENING_LINE, builtProxy, listeningPorts, sleep, stablePort, waitFor } from './hardening/helpers';

const startup = suite('start fully or exit (node dist/main.js)');
startup.before(() => requireBroker());

/** Delays every listen() and says so on stdout: the window in which a signal meets a half-started proxy. */
const SLOW_LISTEN = path.join(__dirname, '..', 'support', 'slowListen.js');
const EXIT_TIMEOUT_MS = 10_000;

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

function runProxy(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Run {
  const child = spawn(process.execPath, [...nodeArgs, builtProxy(), ...args], {
    env: {
      PATH: process.env.PATH ?? '',
      PROXY_UPSTREAM: `amqp://${BROKER_HOST}:${BROKER_PORT}`,
      OTEL_TRACES_EXPORTER: 'none',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, stdout: () => out, stderr: () => err };
}

/** The exit, or a failure (and a SIGKILL) when the process is still alive: the bug this guards against. */
async function exitOf(run: Run): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exit = await Promise.race([run.exited, sleep(EXIT_TIMEOUT_MS).then(() => undefined)]);
  if (exit === undefined) {
    run.child.kill('SIGKILL');
    assert.unreachable(`the proxy is still running ${EXIT_TIMEOUT_MS} ms later:\n${run.stdout()}${run.stderr()}`);
  }
  return exit!;
}

/** Another program holding a port, as a second proxy or any other service would. */
function holdPort(port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function release(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Whether anything accepts TCP connections on the port now. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Ports a test names before the proxy runs: to hold one, or to check afterwards that nothing
 * listens there (a proxy that is meant to start binds port 0 instead, read from its log).
 * Below the ephemeral range (stablePort), so no other program's listen(0) or outgoing
 * connection is given one between this choice and the check.
 */
async function ports(n: number): Promise<number[]> {
  const found = new Set<number>();
  while (found.size < n) found.add(await stablePort());
  return [...found];
}

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

startup('metrics port held by another process: exit 1, one line naming the address and option, AMQP port never left open', async () => {
  const [amqpPort, metricsPort, adminPort] = await ports(3);
  const holder = await holdPort(metricsPort!);
  try {
    const run = runProxy(['--listen', `127.0.0.1:${amqpPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--admin-listen', `127.0.0.1:${adminPort}`]);
    const exit = await exitOf(run);
    assert.is(exit.code, 1, run.stdout() + run.stderr());
    assert.equal(nonEmptyLines(run.stderr()), [
      `amqp-trace-proxy: could not start: cannot listen on 127.0.0.1:${metricsPort}, set by --metrics-listen (METRICS_LISTEN): `
        + 'the address is already in use (by another proxy or another program) [EADDRINUSE]',
    ]);
    assert.not.match(run.stdout(), /amqp-trace-proxy listening/);
    assert.not.ok(await listening(amqpPort!), 'the AMQP port is not listening');
    assert.not.ok(await listening(adminPort!), 'the admin port is not listening');
  } finally {
    await release(holder);
  }
});

startup('admin port held: exit 1 naming --admin-listen; neither /healthz nor the AMQP port answers', async () => {
  const [amqpPort, metricsPort, adminPort] = await ports(3);
  const holder = await holdPort(adminPort!);
  try {
    const run = runProxy([], {
      PROXY_LISTEN: `127.0.0.1:${amqpPort}`, METRICS_LISTEN: `127.0.0.1:${metricsPort}`, ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    });
    const exit = await exitOf(run);
    assert.is(exit.code, 1, run.stdout() + run.stderr());
    const lines = nonEmptyLines(run.stderr());
    assert.is(lines.length, 1, run.stderr());
    assert.match(lines[0]!, `cannot listen on 127.0.0.1:${adminPort}, set by --admin-listen (ADMIN_LISTEN)`);
    const healthz = await fetch(`http://127.0.0.1:${metricsPort}/healthz`).then((r) => r.status, () => 'refused');
    assert.is(healthz, 'refused', '/healthz is not answered by a proxy that could not start');
    assert.not.ok(await listening(amqpPort!));
  } finally {
    await release(holder);
  }
});

startup('AMQP port held: exit 1 naming --listen; the metrics and admin listeners it opened first are closed again', async () => {
  const [amqpPort, metricsPort, adminPort] = await ports(3);
  const holder = await holdPort(amqpPort!, '0.0.0.0');
  try {
    const run = runProxy(['--listen', `0.0.0.0:${amqpPort}`, `--metrics-listen=127.0.0.1:${metricsPort}`, `--admin-listen=127.0.0.1:${adminPort}`]);
    const exit = await exitOf(run);
    assert.is(exit.code, 1, run.stdout() + run.stderr());
    assert.match(run.stderr(), `cannot listen on 0.0.0.0:${amqpPort}, set by --listen (PROXY_LISTEN)`);
    assert.not.ok(await listening(metricsPort!));
    assert.not.ok(await listening(adminPort!));
  } finally {
    await release(holder);
  }
});

startup('webhook subcommand, its port held: exit 1, one line naming the address and --listen (WEBHOOK_LISTEN)', async () => {
  const [port] = await ports(1);
  const holder = await holdPort(port!);
  try {
    const run = runProxy(['webhook', '--listen', `127.0.0.1:${port}`, '--sidecar-image', 'amqp-trace-proxy:test']);
    const exit = await exitOf(run);
    assert.is(exit.code, 1, run.stdout() + run.stderr());
    assert.equal(nonEmptyLines(run.stderr()), [
      `amqp-trace-proxy webhook: could not start: cannot listen on 127.0.0.1:${port}, set by --listen (WEBHOOK_LISTEN): `
      + 'the address is already in use (by another proxy or another program) [EADDRINUSE]',
    ]);
    assert.not.match(run.stdout(), /webhook listening/);
  } finally {
    await release(holder);
  }
});

startup('a second proxy on another AMQP port but the first one\'s metrics port exits; the first keeps its mode and health', async () => {
  const first = runProxy(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0']);
  try {
    await waitFor('the first proxy to listen', () => LISTENING_LINE.test(first.stdout()), EXIT_TIMEOUT_MS);
    const { metrics: metricsPort, admin: admin1 } = listeningPorts(first.stdout());
    const [amqp2, admin2] = await ports(2);
    const second = runProxy(['--listen', `127.0.0.1:${amqp2}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--admin-listen', `127.0.0.1:${admin2}`]);
    const exit = await exitOf(second);
    assert.is(exit.code, 1, second.stdout() + second.stderr());
    assert.match(second.stderr(), `cannot listen on 127.0.0.1:${metricsPort}, set by --metrics-listen (METRICS_LISTEN)`);
    assert.not.ok(await listening(amqp2!), 'the second proxy does not hold its AMQP port');
    assert.not.ok(await listening(admin2!), 'nor its admin port');
    assert.is((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 200, 'the first proxy still answers');
    assert.equal(await (await fetch(`http://127.0.0.1:${admin1}/mode`)).json(), { mode: 'tracing' });
  } finally {
    first.child.kill('SIGTERM');
    await first.exited;
  }
});

startup('config that cannot work exits 2 before opening anything: one address twice, an endpoint that is not a URL', async () => {
  const [port] = await ports(1);
  const same = runProxy(['--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${port}`, '--admin-listen', 'off']);
  assert.is((await exitOf(same)).code, 2, same.stderr());
  assert.match(same.stderr(), `--listen (PROXY_LISTEN) 127.0.0.1:${port} and --metrics-listen (METRICS_LISTEN) 127.0.0.1:${port} are the same address`);
  const notUrl = runProxy(['--listen', `127.0.0.1:${port}`, '--metrics-listen', 'off', '--admin-listen', 'off'], {
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'notaurl',
  });
  assert.is((await exitOf(notUrl)).code, 2, notUrl.stderr());
  assert.match(notUrl.stderr(), 'OTEL_EXPORTER_OTLP_ENDPOINT: "notaurl" is not a URL');
  assert.not.match(notUrl.stdout(), /listening/);
});

startup('SIGTERM during start-up (after the first listen began): exit 0, nothing left listening', async () => {
  const [amqpPort, metricsPort, adminPort] = await ports(3);
  const run = runProxy(
    ['--listen', `127.0.0.1:${amqpPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--admin-listen', `127.0.0.1:${adminPort}`],
    { SLOW_LISTEN_MS: '400' },
    ['--require', SLOW_LISTEN],
  );
  await waitFor('the first listen() call', () => run.stdout().includes('slow-listen: listen called'), EXIT_TIMEOUT_MS);
  run.child.kill('SIGTERM');
  const exit = await exitOf(run);
  assert.equal(exit, { code: 0, signal: null }, `handled, not killed by the signal:\n${run.stdout()}${run.stderr()}`);
  assert.match(run.stdout(), /signal during start-up/);
  assert.match(run.stdout(), /stopped during start-up; exiting/);
  assert.not.match(run.stdout(), /amqp-trace-proxy listening/);
  for (const port of [amqpPort!, metricsPort!, adminPort!]) assert.not.ok(await listening(port), `port ${port}`);
});

startup('a boolean flag alone (--rewrite-on-delivery) starts the proxy; its /metrics passes promtool check metrics', async () => {
  const run = runProxy(['--rewrite-on-delivery', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--admin-listen', 'off']);
  try {
    await waitFor('the proxy to listen', () => LISTENING_LINE.test(run.stdout()) || run.child.exitCode !== null, EXIT_TIMEOUT_MS);
    assert.match(run.stdout(), LISTENING_LINE, run.stderr());
    const { listen: amqpPort, metrics: metricsPort } = listeningPorts(run.stdout());
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    try {
      const ch = await conn.createChannel();
      const queue = uniqueName('startup-flag');
      await ch.assertQueue(queue, { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('x'));
      let msg: amqp.GetMessage | false = false;
      for (let i = 0; i < 100 && msg === false; i++) {
        msg = await ch.get(queue, { noAck: true });
        if (msg === false) await sleep(20);
      }
      assert.ok(msg, 'the message arrived');
      assert.type((msg as amqp.GetMessage).properties.headers?.['traceparent'], 'string');
    } finally {
      await conn.close();
    }
    const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(scrape, /^process_resident_memory_bytes \d+/m, 'process metrics are kept');
    const check = runPromtool(['check', 'metrics'], scrape);
    assert.is(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  } finally {
    run.child.kill('SIGTERM');
    assert.is((await exitOf(run)).code, 0);
  }
});

startup('no collector: the first export failure says how to point at one or turn export off', async () => {
  const [amqpPort, collectorPort] = await ports(2);
  const run = runProxy(['--listen', `127.0.0.1:${amqpPort}`, '--metrics-listen', 'off', '--admin-listen', 'off'], {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_BSP_EXPORT_TIMEOUT: '3000',
  });
  try {
    await waitFor('the proxy to listen', () => run.stdout().includes('amqp-trace-proxy listening') || run.child.exitCode !== null, EXIT_TIMEOUT_MS);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    try {
      const ch = await conn.createChannel();
      ch.sendToQueue(uniqueName('no-collector'), Buffer.from('x'));
      await ch.close();
    } finally {
      await conn.close();
    }
    await waitFor('the export warning', () => run.stdout().includes('span export to'), 15_000);
    const warning = nonEmptyLines(run.stdout()).map((l) => JSON.parse(l) as { level: number; msg: string })
      .find((l) => l.msg.startsWith('span export to'));
    assert.ok(warning);
    assert.is(warning!.level, 40);
    assert.is(warning!.msg, `span export to http://127.0.0.1:${collectorPort} failed; spans dropped. Set OTEL_EXPORTER_OTLP_ENDPOINT to `
      + "your collector's OTLP gRPC address, or OTEL_TRACES_EXPORTER=none to export no spans (messages still get traceparent either way)");
  } finally {
    run.child.kill('SIGTERM');
    await exitOf(run);
  }
});

startup.run();
