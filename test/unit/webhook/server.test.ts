/**
 * The HTTP edge of the webhook: refusals for requests it cannot answer, `allowed: true`
 * with a warning for requests it need not act on, routes, limits, and TLS with reload.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { close, createWebhookServer, listen, reloadTlsOnChange, type WebhookLog } from '../../../src/webhook/server';
import { installHint } from '../../support/hostDeps';
import { admissionReview, call, startWebhook, TEST_SETTINGS, type RunningWebhook } from '../../support/webhookClient';
import { sleep } from '../../support/wait';

let hook: RunningWebhook;

test.before(async () => {
  hook = await startWebhook(TEST_SETTINGS, 64 * 1024);
});
test.after(async () => {
  await hook.stop();
});

const POD = { metadata: { name: 'p' }, spec: { containers: [{ name: 'app', image: 'x', env: [{ name: 'AMQP_URL', value: 'amqp://mq:5672' }] }] } };

function errorCode(body: string): string | undefined {
  return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
}

const REFUSED: [string, string, string][] = [
  ['not JSON', '{"apiVersion": "admission.k8s.io/v1", ', 'WEBHOOK_BAD_JSON'],
  ['empty body', '', 'WEBHOOK_BAD_JSON'],
  ['a JSON array', '[]', 'WEBHOOK_NOT_ADMISSION_REVIEW'],
  ['a bare Pod instead of an AdmissionReview', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...POD }), 'WEBHOOK_NOT_ADMISSION_REVIEW'],
  ['admission.k8s.io/v1beta1', JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }), 'WEBHOOK_UNSUPPORTED_VERSION'],
  ['no request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), 'WEBHOOK_NO_UID'],
  ['an empty uid', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } }), 'WEBHOOK_NO_UID'],
];

for (const [name, body, code] of REFUSED) {
  test(`refused with 400 ${code}: ${name}`, async () => {
    const reply = await call(hook.port, 'POST', '/mutate', body);
    assert.is(reply.status, 400);
    assert.is(reply.headers['content-type'], 'application/json');
    assert.is(errorCode(reply.body), code);
    assert.ok((JSON.parse(reply.body) as { error: { message: string } }).error.message.length > 10, 'a message an operator can act on');
  });
}

async function allowedWithWarning(body: string, uid: string, fragment: string): Promise<void> {
  const reply = await call(hook.port, 'POST', '/mutate', body);
  assert.is(reply.status, 200);
  const { response } = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean; patch?: string; warnings?: string[] } };
  assert.is(response.uid, uid);
  assert.is(response.allowed, true);
  assert.is(response.patch, undefined);
  assert.ok(response.warnings?.some((w) => w.startsWith('amqp-trace-proxy: ') && w.includes(fragment)), JSON.stringify(response.warnings));
}

test('wrong object kind: allowed unchanged, with a warning', async () => {
  const { uid, body } = admissionReview({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: {} }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } });
  await allowedWithWarning(body, uid, 'only pods');
});

test('UPDATE: allowed unchanged, with a warning', async () => {
  const { uid, body } = admissionReview(POD, { operation: 'UPDATE' });
  await allowedWithWarning(body, uid, 'only CREATE');
});

test('a pod spec that cannot be read: allowed unchanged, with the reason', async () => {
  const noContainers = admissionReview({ metadata: { name: 'p' }, spec: { containers: [] } });
  await allowedWithWarning(noContainers.body, noContainers.uid, 'spec.containers is missing or empty');
  const badEnv = admissionReview({ metadata: { name: 'p' }, spec: { containers: [{ name: 'a', env: [{ value: 'x' }] }] } });
  await allowedWithWarning(badEnv.body, badEnv.uid, 'env is not a list of named variables');
});

test('routes: /healthz, unknown paths, wrong methods', async () => {
  const health = await call(hook.port, 'GET', '/healthz');
  assert.is(health.status, 200);
  assert.is(health.body, 'ok\n');
  assert.is((await call(hook.port, 'GET', '/nope')).status, 404);
  const get = await call(hook.port, 'GET', '/mutate');
  assert.is(get.status, 405);
  assert.is(get.headers['allow'], 'POST');
  assert.is((await call(hook.port, 'POST', '/healthz', '{}')).status, 405);
});

test('a body over the limit is refused with 413', async () => {
  const huge = JSON.stringify({ pad: 'x'.repeat(100 * 1024) });
  const reply = await call(hook.port, 'POST', '/mutate', huge);
  assert.is(reply.status, 413);
  assert.is(errorCode(reply.body), 'WEBHOOK_BODY_TOO_LARGE');
});

test('refusals are logged with their code and without the body', async () => {
  const before = hook.logs.length;
  await call(hook.port, 'POST', '/mutate', '{"secret":"do-not-log-me"');
  const lines = hook.logs.slice(before);
  assert.is(lines.length, 1);
  assert.is(lines[0]?.level, 'warn');
  assert.equal(lines[0]?.obj, { code: 'WEBHOOK_BAD_JSON' });
  assert.not.ok(JSON.stringify(lines).includes('do-not-log-me'));
});

// --- TLS -------------------------------------------------------------------------------

function selfSigned(dir: string, name: string): { cert: Buffer; key: Buffer; certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`openssl is needed to generate test certificates (${installHint('openssl')}): ${(err as Error).message}`);
  }
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
}

function peerCn(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false }, (res) => {
      const cn = (res.socket as TLSSocket).getPeerCertificate().subject.CN;
      res.resume();
      res.on('end', () => resolve(String(cn)));
    });
    req.on('error', reject);
    req.end();
  });
}

test('serves HTTPS and swaps in a renewed certificate without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-tls-'));
  const silent: WebhookLog = { info: () => {}, warn: () => {}, error: () => {} };
  try {
    const first = selfSigned(dir, 'first');
    const second = selfSigned(dir, 'second');
    const served = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
    writeFileSync(served.certFile, first.cert);
    writeFileSync(served.keyFile, first.key);
    const server = createWebhookServer({ settings: TEST_SETTINGS, log: silent, tls: { cert: first.cert, key: first.key } });
    const { port } = await listen(server, '127.0.0.1', 0);
    assert.ok('setSecureContext' in server);
    const stop = reloadTlsOnChange(server as import('node:https').Server, served, first, silent, 20);
    try {
      assert.is(await peerCn(port, first.cert), 'first');
      writeFileSync(served.certFile, second.cert);
      writeFileSync(served.keyFile, second.key);
      let cn = '';
      for (let i = 0; i < 50 && cn !== 'second'; i++) {
        await sleep(20);
        cn = await peerCn(port, second.cert).catch(() => '');
      }
      assert.is(cn, 'second');
    } finally {
      stop();
      await close(server, 100);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
