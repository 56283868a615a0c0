/**
 * F3 of issue 21: the admin API must not act for a web page. Before the fix, a cross-origin
 * form POST (`Origin: https://evil.example`, a form content type) switched the proxy to
 * bypass, so did a request with a foreign Host (DNS rebinding), and the log did not say who
 * switched. Raw requests to a proxy child process; the mode is read back after each.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requireBroker } from '../../support/broker';
import { waitFor } from '../hardening/helpers';
import { HttpProxy, rawRequest, startHttpProxy, stopChild } from './httpPeers';

const admin = suite('adversarial: admin API');

let proxy: HttpProxy | undefined;

admin.before(async () => {
  await requireBroker();
  proxy = await startHttpProxy();
});

admin.after(async () => {
  if (proxy) await stopChild(proxy.process);
});

function post(headers: string[], query = '?mode=bypass', body = ''): string {
  return [`POST /mode${query} HTTP/1.1`, ...headers, `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body].join('\r\n');
}

async function mode(port: number, headers: string[] = []): Promise<string> {
  const reply = await rawRequest(port, ['GET /mode HTTP/1.1', 'Host: 127.0.0.1', ...headers, 'Connection: close', '', ''].join('\r\n'));
  return /"mode":"(\w+)"/.exec(reply.text)?.[1] ?? `no mode in: ${reply.text}`;
}

admin('a cross-origin form POST (the browser sends it without asking) is refused and changes nothing', async () => {
  const p = proxy!;
  const reply = await rawRequest(p.adminPort, post(['Host: 127.0.0.1', 'Origin: https://evil.example', 'Content-Type: application/x-www-form-urlencoded']));
  assert.is(reply.status, 403, reply.text);
  assert.is(await mode(p.adminPort), 'tracing');
});

admin('a simple POST without Origin (a form content type, or none) is refused: a switch needs a JSON content type', async () => {
  const p = proxy!;
  for (const type of ['Content-Type: application/x-www-form-urlencoded', 'Content-Type: text/plain']) {
    const reply = await rawRequest(p.adminPort, post(['Host: 127.0.0.1', type], '', 'bypass'));
    assert.is(reply.status, 415, `${type}: ${reply.text}`);
  }
  assert.is((await rawRequest(p.adminPort, post(['Host: 127.0.0.1']))).status, 415);
  assert.is(await mode(p.adminPort), 'tracing');
});

admin('a foreign Host (DNS rebinding: the page\'s own name resolving to 127.0.0.1) is refused, for reads too', async () => {
  const p = proxy!;
  for (const host of ['evil.example', `evil.example:${p.adminPort}`, 'localhost.evil.example', '127.0.0.1.nip.io']) {
    const reply = await rawRequest(p.adminPort, post([`Host: ${host}`, 'Content-Type: application/json']));
    assert.is(reply.status, 403, `${host}: ${reply.text}`);
  }
  const read = await rawRequest(p.adminPort, `GET /mode HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  assert.is(read.status, 403);
  assert.is(await mode(p.adminPort), 'tracing');
});

admin('a request without Host (HTTP/1.0 allows it) is refused: the rebinding check needs one', async () => {
  const p = proxy!;
  for (const version of ['HTTP/1.0', 'HTTP/1.1']) {
    const reply = await rawRequest(p.adminPort, `POST /mode?mode=bypass ${version}\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n`);
    assert.is(reply.status, 400, `${version}: ${reply.text}`);
  }
  assert.is(await mode(p.adminPort), 'tracing');
});

admin('refused requests are logged with the peer and the reason, at most once a second per reason', async () => {
  const p = proxy!;
  const lines = (reason: string): string[] =>
    p.output().split('\n').filter((l) => l.includes('"admin request refused"') && l.includes(`"reason":"${reason}"`));
  const refuse = async (): Promise<void> => {
    assert.is((await rawRequest(p.adminPort, post(['Host: 127.0.0.1', 'Origin: https://evil.example']))).status, 403);
  };
  const before = lines('origin').length;
  for (let i = 0; i < 20; i++) await refuse();
  await rawRequest(p.adminPort, post(['Host: evil.example', 'Content-Type: application/json']));
  // Once its second is over, the next refusal is logged again with how many were not.
  const suppressed = (l: string): number => Number(/"suppressed":(\d+)/.exec(l)?.[1] ?? 0);
  await waitFor('a refusal logged with the burst counted as suppressed', async () => {
    await refuse();
    return lines('origin').slice(before).some((l) => suppressed(l) >= 19);
  }, 5000, 200);
  const origin = lines('origin').slice(before);
  assert.ok(origin.length <= 2, `about a second of refusals make at most 2 lines, not ${origin.length}`);
  assert.match(origin.at(-1)!, /"peer":"127\.0\.0\.1:\d+"/);
  assert.match(origin.at(-1)!, '"status":403');
  assert.ok(lines('host').length >= 1, 'a foreign Host is logged too');
});

admin('a proper request switches, and the log line names the peer (address:port)', async () => {
  const p = proxy!;
  for (const host of ['127.0.0.1', `127.0.0.1:${p.adminPort}`, `localhost:${p.adminPort}`, '[::1]:1234']) {
    assert.is((await rawRequest(p.adminPort, post([`Host: ${host}`, 'Content-Type: application/json'], '', '"bypass"'))).status, 200, host);
    assert.is((await rawRequest(p.adminPort, post([`Host: ${host}`, 'Content-Type: application/json; charset=utf-8'], '?mode=tracing'))).status, 200, host);
  }
  const reply = await rawRequest(p.adminPort, post(['Host: 127.0.0.1', 'Content-Type: application/json'], '', '{"mode":"bypass"}'));
  assert.is(reply.status, 200, reply.text);
  assert.is(await mode(p.adminPort), 'bypass');
  // The child's log arrives through a pipe, maybe after the reply.
  const peer = `"peer":"127.0.0.1:${reply.localPort}"`;
  await waitFor('the switch\'s log line', () => p.output().includes(peer));
  const line = p.output().split('\n').filter((l) => l.includes('"mode switched"')).at(-1) ?? '';
  assert.match(line, peer);
  assert.match(line, '"mode":"bypass"');
  await rawRequest(p.adminPort, post(['Host: 127.0.0.1', 'Content-Type: application/json'], '?mode=tracing'));
});

admin('with --admin-token-file, every request needs the bearer token; the token is never logged', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-admin-'));
  const token = 's3cret-token-value';
  writeFileSync(path.join(dir, 'token'), `${token}\n`);
  const guarded = await startHttpProxy({ ADMIN_TOKEN_FILE: path.join(dir, 'token') });
  try {
    const port = guarded.adminPort;
    assert.is((await rawRequest(port, post(['Host: 127.0.0.1', 'Content-Type: application/json']))).status, 401);
    assert.is((await rawRequest(port, post(['Host: 127.0.0.1', 'Authorization: Bearer wrong']))).status, 401);
    assert.is((await rawRequest(port, 'GET /mode HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status, 401);
    assert.is(await mode(port, [`Authorization: Bearer ${token}`]), 'tracing');
    assert.is((await rawRequest(port, post(['Host: 127.0.0.1', `Authorization: Bearer ${token}`]))).status, 200);
    assert.is((await rawRequest(port, post(['Host: 127.0.0.1', 'Origin: https://evil.example', `Authorization: Bearer ${token}`]))).status, 403);
    assert.is(await mode(port, [`Authorization: Bearer ${token}`]), 'bypass');
    // A rotated token applies at the next request (the file is read again when it changes).
    writeFileSync(path.join(dir, 'token'), 'rotated-token-value\n');
    assert.is((await rawRequest(port, post(['Host: 127.0.0.1', `Authorization: Bearer ${token}`], '?mode=tracing'))).status, 401);
    assert.is((await rawRequest(port, post(['Host: 127.0.0.1', 'Authorization: Bearer rotated-token-value'], '?mode=tracing'))).status, 200);
    const refused = guarded.output().split('\n').filter((l) => l.includes('"admin request refused"') && l.includes('"reason":"token"'));
    assert.ok(refused.length >= 1, 'a wrong token is logged as refused');
    assert.match(refused[0]!, /"peer":"127\.0\.0\.1:\d+"/);
    assert.not.match(guarded.output(), token);
    assert.not.match(guarded.output(), 'wrong', 'nor a wrong one');
  } finally {
    await stopChild(guarded.process);
    rmSync(dir, { recursive: true, force: true });
  }
});

admin('F14: an admin API bound beyond loopback without a token is warned about at start, and not with one', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-admin-'));
  writeFileSync(path.join(dir, 'token'), 'abc\n');
  const open = await startHttpProxy({ ADMIN_LISTEN: '0.0.0.0:0' });
  const guarded = await startHttpProxy({ ADMIN_LISTEN: '0.0.0.0:0', ADMIN_TOKEN_FILE: path.join(dir, 'token') });
  try {
    const warning = 'the admin API listens beyond loopback without --admin-token-file';
    assert.match(open.output(), warning);
    assert.not.match(guarded.output(), warning);
    assert.not.match(proxy!.output(), warning, 'nor on loopback');
  } finally {
    await stopChild(open.process);
    await stopChild(guarded.process);
    rmSync(dir, { recursive: true, force: true });
  }
});

admin.run();
