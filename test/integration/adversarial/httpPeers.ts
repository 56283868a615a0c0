/**
 * Raw HTTP peers for the adversarial tests of the proxy's HTTP listeners (metrics, admin,
 * webhook): bytes written as given, no client library to tidy them up, and a proxy child
 * process whose survival is the point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import * as amqp from 'amqplib';
import { uniqueName } from '../../support/broker';
import { ChildProxy, builtProxy, sleep, startChildProxy } from '../hardening/helpers';

export interface HttpProxy extends ChildProxy {
  readonly metricsPort: number;
  readonly adminPort: number;
}

/** A proxy child with its metrics and admin listeners on loopback ports of their own (port 0: bound by the child, read from its log). */
export async function startHttpProxy(env: Record<string, string> = {}, wrapper: string[] = []): Promise<HttpProxy> {
  const child = await startChildProxy(0, { METRICS_LISTEN: '127.0.0.1:0', ADMIN_LISTEN: '127.0.0.1:0', ...env }, wrapper);
  return { ...child, metricsPort: child.metricsPort!, adminPort: child.adminPort! };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

export interface RawReply {
  /** Everything the server sent before it closed or `waitMs` passed. */
  readonly text: string;
  /** The status code of the first response, or undefined when none came. */
  readonly status: number | undefined;
  /** Whether the server closed the connection within `waitMs`. */
  readonly closed: boolean;
  /** The client's port: the server sees the request come from 127.0.0.1:localPort. */
  readonly localPort: number | undefined;
}

/** Writes `bytes` to `port` and collects what comes back until the server closes or `waitMs` passes. */
export function rawRequest(port: number, bytes: string | Buffer, waitMs = 2000): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    let finished = false;
    let localPort: number | undefined;
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      resolve({ text, status: status === undefined ? undefined : Number(status), closed, localPort });
    };
    const timer = setTimeout(done, waitMs);
    socket.on('connect', () => {
      localPort = socket.localPort;
      socket.write(bytes);
    });
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (responseComplete(text)) done();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      done();
    });
  });
}

/** Whether `text` holds a whole response with a Content-Length (a kept-alive connection says no more). */
function responseComplete(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
  return length !== undefined && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(length);
}

/** Opens a socket and resolves when it is connected (or rejects when it cannot). */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with how long `socket` stayed open, or undefined when it is still open after `waitMs`. */
export function closedWithin(socket: Socket, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readyState === 'closed') return resolve(true);
    const timer = setTimeout(() => resolve(false), waitMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A message through the proxy: publish, then get it back. Proves the data path still works. */
export async function roundTrip(url: string): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    const queue = uniqueName('adversarial-http');
    await ch.assertQueue(queue, { autoDelete: false });
    ch.sendToQueue(queue, Buffer.from('still serving'));
    let got: amqp.GetMessage | false = false;
    for (let i = 0; i < 50 && got === false; i++) {
      got = await ch.get(queue, { noAck: true });
      if (got === false) await sleep(20);
    }
    await ch.deleteQueue(queue);
    if (got === false || got.content.toString() !== 'still serving') throw new Error('the message did not come back through the proxy');
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** The webhook command in a child process, serving plain HTTP on a loopback port it binds itself (port 0, read from its log). */
export async function startWebhookChild(args: string[] = [], env: Record<string, string> = {}): Promise<{ port: number; process: ChildProcess; output(): string }> {
  const child = spawn(process.execPath, [builtProxy(), 'webhook', '--listen', '127.0.0.1:0', '--sidecar-image', 'proxy:test', ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const deadline = Date.now() + 15_000;
  // The whole line: the port is read from it.
  while (!/"webhook listening"\}\r?\n/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`webhook did not start:\n${log}`);
    }
    await sleep(50);
  }
  const line = log.split('\n').find((l) => l.includes('"webhook listening"'))!;
  const { port } = JSON.parse(line) as { port: number };
  return { port, process: child, output: () => log };
}
