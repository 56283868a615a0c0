/**
 * F7 of issue 21: the webhook held bodies of up to 8 MiB with no cap on how many at once, and
 * four concurrent reviews took it past its 128 MiB limit (failurePolicy: Ignore then skips
 * injection silently). F14: a certificate and a key that do not belong together ended in a
 * stack trace. The webhook command runs as a child process; its peak RSS is read from
 * /proc/<pid>/status (VmHWM).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { admissionReview } from '../../support/webhookClient';
import { builtProxy, testCerts } from '../hardening/helpers';
import { closedWithin, openSocket, startWebhookChild, stopChild } from './httpPeers';
import { sleep } from '../../support/wait';

const webhook = suite('adversarial: webhook');

/** Peak resident memory of a process, in MiB. */
function peakRssMiB(pid: number): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib) / 1024;
}

/** A pod whose one annotation makes its review `bytes` long, give or take a kilobyte. */
function bigReview(bytes: number): string {
  const pod = { metadata: { name: 'big', annotations: { filler: 'x'.repeat(bytes) } },
    spec: { containers: [{ name: 'app', image: 'x', env: [{ name: 'AMQP_URL', value: 'amqp://mq:5672' }] }] } };
  return admissionReview(pod).body;
}

function post(port: number, body: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

webhook('a body whose Content-Length is over the limit is refused with 413 before it is sent, and the connection closed', async () => {
  const hook = await startWebhookChild();
  try {
    const socket = await openSocket(hook.port);
    let reply = '';
    socket.on('data', (d: Buffer) => { reply += d.toString(); });
    socket.write(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n{`);
    assert.ok(await closedWithin(socket, 3000), 'the connection stayed open, waiting for 100 MiB');
    assert.match(reply, /^HTTP\/1\.1 413/);
  } finally {
    await stopChild(hook.process);
  }
});

webhook('a chunked body (no Content-Length to refuse early) is cut off past the limit: 413 and the connection closed', async () => {
  const hook = await startWebhookChild();
  try {
    const socket = await openSocket(hook.port);
    let reply = '';
    socket.on('data', (d: Buffer) => { reply += d.toString(); });
    socket.on('error', () => undefined);
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = `${(64 * 1024).toString(16)}\r\n${'x'.repeat(64 * 1024)}\r\n`;
    const chunks = 96; // 6 MiB: over the 1 MiB limit, under the 8 MiB that used to be read whole
    let sent = 0;
    while (!socket.destroyed && sent < chunks) {
      sent++;
      if (!socket.write(chunk)) {
        await new Promise((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
    }
    assert.ok(await closedWithin(socket, 5000), 'the server kept reading');
    assert.match(reply, /^HTTP\/1\.1 413/);
    if (!socket.destroyed) socket.end('0\r\n\r\n');
  } finally {
    await stopChild(hook.process);
  }
});

webhook('a body dripped a byte at a time is cut off within --request-timeout-ms', async () => {
  const hook = await startWebhookChild(['--request-timeout-ms', '1000']);
  try {
    const socket = await openSocket(hook.port);
    socket.on('error', () => undefined);
    socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
    const timer = setInterval(() => { if (!socket.destroyed) socket.write(' '); }, 100);
    try {
      assert.ok(await closedWithin(socket, 4000), 'the dripping socket is still open');
    } finally {
      clearInterval(timer);
    }
  } finally {
    await stopChild(hook.process);
  }
});

webhook('16 concurrent reviews of 6 MiB are refused unread: peak memory grows by less than 16 MiB', async () => {
  const hook = await startWebhookChild();
  try {
    const body = bigReview(6 * 1024 * 1024);
    const before = peakRssMiB(hook.process.pid!);
    const statuses = await Promise.all(Array.from({ length: 16 }, () => post(hook.port, body)));
    const growth = peakRssMiB(hook.process.pid!) - before;
    assert.ok(statuses.every((s) => s === 413 || s === 0), String(statuses));
    assert.ok(growth < 16, `peak RSS grew ${growth.toFixed(0)} MiB`);
  } finally {
    await stopChild(hook.process);
  }
});

webhook('past --max-concurrent-reviews, 40 reviews of 1000 KiB wait with their bodies unread (memory grows < 16 MiB), then all are answered', async () => {
  const hook = await startWebhookChild(['--request-timeout-ms', '30000', '--max-concurrent-reviews', '2']);
  const holders = await Promise.all([openSocket(hook.port), openSocket(hook.port)]);
  try {
    // Two reviews that hold the two slots: their bodies never finish.
    for (const h of holders) h.write('POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    await sleep(200);
    const body = bigReview(1000 * 1024);
    const before = peakRssMiB(hook.process.pid!);
    const answered = Promise.all(Array.from({ length: 40 }, () => post(hook.port, body)));
    await sleep(2000);
    const growth = peakRssMiB(hook.process.pid!) - before;
    assert.ok(growth < 16, `peak RSS grew ${growth.toFixed(0)} MiB while 40 reviews waited`);
    for (const h of holders) h.destroy();
    const statuses = await answered;
    assert.equal(statuses.filter((s) => s !== 200), [], 'every waiting review answered 200 once the slots were free');
  } finally {
    for (const h of holders) h.destroy();
    await stopChild(hook.process);
  }
});

webhook('F14: a certificate and a key that do not belong together: one line on stderr, exit 2, no stack trace', async () => {
  const certs = testCerts();
  try {
    certs.ca('ca');
    certs.issue('one', 'ca', 'DNS:webhook');
    certs.issue('two', 'ca', 'DNS:webhook');
    const child = spawn(process.execPath, [builtProxy(), 'webhook', '--listen', '127.0.0.1:0', '--sidecar-image', 'x:1',
      '--tls-cert', certs.file('one', 'crt'), '--tls-key', certs.file('two', 'key')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.is(code, 2, stderr);
    assert.match(stderr, '--tls-cert and --tls-key: the key does not belong to the certificate');
    assert.not.match(stderr, /\n\s+at /, 'no stack trace');
  } finally {
    certs.remove();
  }
});

webhook.run();
