/**
 * F1 of issue 21: one HTTP request must not stop the proxy. Malformed request targets,
 * methods and headers go to each HTTP listener of a running proxy (a child process: a
 * crash is an exit, not a failed assertion inside the test runner), and afterwards the
 * process is alive and a message still goes through it. Before the fix, `GET //[` to the
 * admin listener made `new URL` throw in a dropped promise and the process exited.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requireBroker } from '../../support/broker';
import { HttpProxy, rawRequest, roundTrip, startHttpProxy, startWebhookChild, stopChild } from './httpPeers';

const requests = suite('adversarial: malformed HTTP requests');

/** Request texts that are malformed or unusual in their target, method or headers. */
const HOSTILE: readonly [string, string][] = [
  ['a target that is no URL', 'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['a target that is no URL, put', 'PUT //[?mode=bypass HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['an absolute-form target', 'GET http://[::1/mode HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['an asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['a percent sign that decodes to nothing', 'GET /mode?mode=%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['an unknown method', 'BREW /mode HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['a method Node knows but nothing here serves', 'PROPFIND /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'],
  ['no Host on HTTP/1.1', 'GET /mode HTTP/1.1\r\n\r\n'],
  ['a header without a colon', 'GET /mode HTTP/1.1\r\nHost: 127.0.0.1\r\nbroken header\r\n\r\n'],
  ['a NUL in a header value', 'GET /mode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\u0000b\r\n\r\n'],
  ['a content length that is no number', 'POST /mode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\nbypass'],
  ['two content lengths', 'POST /mode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nbypass'],
  ['a chunked body that lies about its size', 'POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nab\r\n0\r\n\r\n'],
  ['a body on a metrics GET', 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nabcd'],
  ['headers of 64 KiB', `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`],
  ['binary garbage', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]).toString('latin1')],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
];

let proxy: HttpProxy | undefined;

requests.before(async () => {
  await requireBroker();
  proxy = await startHttpProxy();
});

requests.after(async () => {
  if (proxy) await stopChild(proxy.process);
});

for (const listener of ['admin', 'metrics'] as const) {
  requests(`every malformed request to the ${listener} listener is answered or closed, and the proxy keeps serving`, async () => {
    const p = proxy!;
    const port = listener === 'admin' ? p.adminPort : p.metricsPort;
    for (const [name, bytes] of HOSTILE) {
      const reply = await rawRequest(port, bytes);
      assert.ok(reply.status === undefined || reply.status < 500 || reply.status === 505, `${name}: ${reply.text.slice(0, 80)}`);
      assert.is(p.process.exitCode, null, `the proxy exited after ${name}:\n${p.output()}`);
    }
    // One more round after the event loop has run any dropped promise's rejection.
    const again = await rawRequest(port, 'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.ok(again.status === 400 || again.status === 404, again.text);
    assert.is(p.process.exitCode, null, `the proxy exited:\n${p.output()}`);
    await roundTrip(p.url);
  });
}

requests('every malformed request to the webhook is answered or closed, and the webhook keeps serving', async () => {
  const webhook = await startWebhookChild();
  try {
    for (const [name, bytes] of HOSTILE) {
      const reply = await rawRequest(webhook.port, bytes.replace(/\/mode|\/metrics/, '/mutate'));
      assert.ok(reply.status === undefined || reply.status < 500 || reply.status === 505, `${name}: ${reply.text.slice(0, 80)}`);
      assert.is(webhook.process.exitCode, null, `the webhook exited after ${name}:\n${webhook.output()}`);
    }
    assert.is((await rawRequest(webhook.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status, 200);
  } finally {
    await stopChild(webhook.process);
  }
});

requests.run();
