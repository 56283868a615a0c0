import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { Server as TlsServer, TLSSocket, connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { consumeN, withConnection } from '../../support/amqp';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { UpstreamTls } from '../../../src/proxy/tls';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { TestCerts, builtProxy, sleep, testCerts } from './helpers';

const tls = suite<{ certs: TestCerts }>('TLS', { certs: undefined as unknown as TestCerts });

tls.before(async (ctx) => {
  await requireBroker();
  const certs = testCerts();
  certs.ca('ca');
  certs.ca('otherca');
  certs.issue('server', 'ca', 'IP:127.0.0.1,DNS:localhost');
  certs.issue('server2', 'otherca', 'IP:127.0.0.1,DNS:localhost');
  certs.issue('client', 'ca', 'DNS:client', true);
  certs.issue('stranger', 'otherca', 'DNS:stranger', true);
  certs.issue('broker', 'ca', 'DNS:localhost');
  certs.issue('wrongname', 'ca', 'DNS:broker.example');
  ctx.certs = certs;
});
tls.after(({ certs }) => certs.remove());

const pem = (certs: TestCerts, name: string, ext: 'crt' | 'key'): Buffer => readFileSync(certs.file(name, ext));

/** 30 confirmed publishes through `url`, all consumed directly from the broker. */
async function roundTrip(url: string, socketOptions: object = {}): Promise<void> {
  await withConnection(BROKER_URL, async (direct) => {
    const consumer = await direct.createChannel();
    const queue = (await consumer.assertQueue(uniqueName('tls'), { exclusive: true })).queue;
    const received = consumeN(consumer, queue, 30);
    const conn = await amqp.connect(url, socketOptions);
    try {
      const ch = await conn.createConfirmChannel();
      for (let i = 0; i < 30; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const msgs = await received;
    assert.equal(msgs.map((m) => m.content.toString()), Array.from({ length: 30 }, (_, i) => String(i)));
  });
}

async function refused(url: string, socketOptions: object): Promise<string> {
  return amqp.connect(url, socketOptions).then(
    async (c) => { await c.close(); return ''; },
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
}

function tlsProxy(certs: TestCerts, env: Record<string, string> = {}): Promise<TestProxy> {
  return startTestProxy({ PROXY_TLS_CERT: certs.file('server', 'crt'), PROXY_TLS_KEY: certs.file('server', 'key'), ...env });
}

tls('clients connect with AMQPS; a client that does not trust the CA refuses the proxy', async ({ certs }) => {
  const proxy = await tlsProxy(certs);
  try {
    await roundTrip(`amqps://guest:guest@localhost:${proxy.port}`, { ca: [pem(certs, 'ca', 'crt')] });
    await roundTrip(`amqps://guest:guest@127.0.0.1:${proxy.port}`, { ca: [pem(certs, 'ca', 'crt')] });
    const code = await refused(`amqps://guest:guest@localhost:${proxy.port}`, { ca: [pem(certs, 'otherca', 'crt')] });
    assert.ok(code !== '', 'a bad CA must be refused');
    assert.match(code, /UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
    const plain = await refused(proxy.url, {});
    assert.ok(plain !== '', 'plain AMQP is not accepted on a TLS listener');
  } finally {
    await proxy.stop();
  }
});

tls('mutual TLS: a certificate from the client CA is required', async ({ certs }) => {
  const proxy = await tlsProxy(certs, { PROXY_TLS_CLIENT_CA: certs.file('ca', 'crt') });
  const url = `amqps://guest:guest@localhost:${proxy.port}`;
  const ca = [pem(certs, 'ca', 'crt')];
  try {
    await roundTrip(url, { ca, cert: pem(certs, 'client', 'crt'), key: pem(certs, 'client', 'key') });
    assert.ok(await refused(url, { ca }) !== '', 'no client certificate: refused');
    assert.ok(await refused(url, { ca, cert: pem(certs, 'stranger', 'crt'), key: pem(certs, 'stranger', 'key') }) !== '',
      'a certificate from another CA: refused');
  } finally {
    await proxy.stop();
  }
});

function peerFingerprint(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.once('error', reject);
  });
}

tls('replaced certificate files are picked up without a restart; open connections carry on', async ({ certs }) => {
  // Files of its own, so replacing them does not disturb the other tests.
  for (const ext of ['crt', 'key'] as const) copyFileSync(certs.file('server', ext), certs.file('live', ext));
  const proxy = await startTestProxy({ PROXY_TLS_CERT: certs.file('live', 'crt'), PROXY_TLS_KEY: certs.file('live', 'key') });
  const bothCas = [pem(certs, 'ca', 'crt'), pem(certs, 'otherca', 'crt')];
  try {
    const before = await peerFingerprint(proxy.port, Buffer.concat(bothCas));
    const open = await amqp.connect(`amqps://guest:guest@localhost:${proxy.port}`, { ca: bothCas });
    for (const ext of ['crt', 'key'] as const) copyFileSync(certs.file('server2', ext), certs.file('live', ext));
    let after = before;
    for (let i = 0; i < 60 && after === before; i++) {
      await sleep(100);
      after = await peerFingerprint(proxy.port, Buffer.concat(bothCas)).catch(() => before);
    }
    assert.is.not(after, before, 'new connections get the new certificate');
    assert.ok(await refused(`amqps://guest:guest@localhost:${proxy.port}`, { ca: [pem(certs, 'ca', 'crt')] }) !== '',
      'the old CA no longer verifies the proxy');
    const ch = await open.createConfirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from('still here'));
    await ch.waitForConfirms();
    assert.is(((await ch.get(q)) as amqp.GetMessage).content.toString(), 'still here');
    await open.close();
  } finally {
    await proxy.stop();
  }
});

interface Terminator {
  readonly port: number;
  readonly servernames: (string | false | null)[];
  readonly authorizedClients: boolean[];
  close(): Promise<void>;
}

/** A TLS endpoint in front of the shared broker: "the broker over TLS" for the upstream side. */
function startTerminator(certs: TestCerts, certName: string, requireClientCert: boolean): Promise<Terminator> {
  const servernames: (string | false | null)[] = [];
  const authorizedClients: boolean[] = [];
  const server: TlsServer = createTlsServer({
    cert: pem(certs, certName, 'crt'), key: pem(certs, certName, 'key'),
    ...(requireClientCert ? { ca: pem(certs, 'ca', 'crt'), requestCert: true, rejectUnauthorized: true } : {}),
  }, (socket: TLSSocket) => {
    servernames.push(socket.servername);
    authorizedClients.push(socket.authorized);
    const upstream = netConnect({ host: BROKER_HOST, port: BROKER_PORT });
    for (const s of [socket, upstream]) {
      s.on('error', () => undefined);
      s.on('close', () => { socket.destroy(); upstream.destroy(); });
    }
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  server.on('tlsClientError', () => undefined);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as { port: number }).port,
    servernames,
    authorizedClients,
    close: () => new Promise<void>((r) => server.close(() => r())),
  })));
}

tls('upstream over TLS: CA, client certificate and SNI; host name verified', async ({ certs }) => {
  const terminator = await startTerminator(certs, 'broker', true);
  const proxy = await startTestProxy({
    PROXY_UPSTREAM: `amqps://localhost:${terminator.port}`,
    PROXY_UPSTREAM_TLS_CA: certs.file('ca', 'crt'),
    PROXY_UPSTREAM_TLS_CERT: certs.file('client', 'crt'),
    PROXY_UPSTREAM_TLS_KEY: certs.file('client', 'key'),
  });
  try {
    await roundTrip(proxy.url);
    assert.equal(terminator.servernames, ['localhost'], 'SNI carries the upstream host name');
    assert.equal(terminator.authorizedClients, [true], 'the proxy presented its client certificate');
  } finally {
    await proxy.stop();
    await terminator.close();
  }
});

tls('upstream certificate for another host name: refused, unless --upstream-tls-insecure', async ({ certs }) => {
  const terminator = await startTerminator(certs, 'wrongname', false);
  const upstreamEnv = { PROXY_UPSTREAM: `amqps://localhost:${terminator.port}`, PROXY_UPSTREAM_TLS_CA: certs.file('ca', 'crt') };
  const strict = await startTestProxy(upstreamEnv);
  try {
    assert.ok(await refused(strict.url, {}) !== '', 'the client connection is closed');
    const metrics = await (await fetch(`${strict.metricsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`upstream_connect_failures_total\\{upstream="localhost:${terminator.port}"\\} 1`));
    assert.match(metrics, /connections_refused_total\{reason="upstream_unavailable"\} 1/);
  } finally {
    await strict.stop();
  }
  const insecure = await startTestProxy({ ...upstreamEnv, PROXY_UPSTREAM_TLS_INSECURE: 'true' });
  try {
    await roundTrip(insecure.url);
  } finally {
    await insecure.stop();
    await terminator.close();
  }
});

tls('TLS settings that do not fit together: every problem listed, exit code 2', async ({ certs }) => {
  const run = spawnSync(process.execPath, [builtProxy(),
    '--tls-cert', certs.file('server', 'crt'), '--upstream-tls-cert', certs.file('client', 'crt'),
    '--upstream-tls-insecure', 'true', '--tls-client-ca', '/nonexistent/ca.pem'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.is(run.status, 2, run.stderr);
  assert.match(run.stderr, /--tls-client-ca: cannot read "\/nonexistent\/ca.pem" \(ENOENT\)/);
  assert.match(run.stderr, /--tls-cert \(PROXY_TLS_CERT\) is set but --tls-key \(PROXY_TLS_KEY\) is not/);
  assert.match(run.stderr, /--upstream-tls-cert \(PROXY_UPSTREAM_TLS_CERT\) is set but --upstream-tls-key/);
  assert.match(run.stderr, /no upstream URL is amqps:\/\//);
});

/**
 * F8 of issue 21: Node's TLS takes a CA file with no certificate in it silently, so the proxy
 * reported ready and then failed every connection. Now each such file is a start-up problem.
 */
tls('CA files with no certificate (empty, garbage, a key, DER): one line each, all at once, exit code 2', async ({ certs }) => {
  const file = (name: string, content: string | Buffer): string => {
    const p = path.join(certs.dir, name);
    writeFileSync(p, content);
    return p;
  };
  const der = path.join(certs.dir, 'ca.der');
  execFileSync('openssl', ['x509', '-in', certs.file('ca', 'crt'), '-outform', 'der', '-out', der]);
  const bad: readonly { what: string; file: string; says: RegExp }[] = [
    { what: 'empty', file: file('empty.pem', ''), says: /is empty; expected PEM certificates/ },
    { what: 'garbage', file: file('garbage.pem', 'not a certificate\n'), says: /holds no PEM certificate/ },
    { what: 'a key', file: certs.file('server', 'key'), says: /holds a private key, not a certificate/ },
    { what: 'DER', file: der, says: /looks like DER; expected PEM/ },
    { what: 'a damaged PEM', file: file('damaged.pem', readFileSync(certs.file('ca', 'crt'), 'latin1').replace(/[A-Za-z]{8}\n/, 'AAAA\n')), says: /holds a certificate that cannot be read/ },
  ];
  // Every kind under each option; the two options together in one run each time.
  for (const [i, client] of bad.entries()) {
    const upstream = bad[(i + 1) % bad.length]!;
    const run = spawnSync(process.execPath, [builtProxy(),
      '--tls-cert', certs.file('server', 'crt'), '--tls-key', certs.file('server', 'key'),
      '--tls-client-ca', client.file, '--upstream', 'amqps://localhost:5671', '--upstream-tls-ca', upstream.file,
      '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--admin-listen', 'off',
    // A proxy that took the files would start and serve: the timeout ends it (status null).
    ], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 10_000, killSignal: 'SIGKILL' });
    assert.is(run.status, 2, `${client.what} / ${upstream.what}: ${run.stderr}`);
    const lines = run.stderr.split('\n');
    const line = (option: string): string => lines.find((l) => l.includes(`${option}: "`)) ?? '';
    assert.match(line('--tls-client-ca'), client.says, `--tls-client-ca with ${client.what}: ${run.stderr}`);
    assert.match(line('--upstream-tls-ca'), upstream.says, `--upstream-tls-ca with ${upstream.what}: ${run.stderr}`);
  }
  // The same file emptied while the proxy runs (a Secret mid-update): the reload fails, so
  // watchCertificates keeps the previous certificates instead of a CA that verifies nothing.
  const live = path.join(certs.dir, 'live-ca.crt');
  copyFileSync(certs.file('ca', 'crt'), live);
  const upstreamTls = new UpstreamTls({ ca: live, insecure: false });
  const context = upstreamTls.options().secureContext;
  writeFileSync(live, '');
  assert.throws(() => upstreamTls.reload(), /is empty/);
  assert.is(upstreamTls.options().secureContext, context);
});

tls.run();
