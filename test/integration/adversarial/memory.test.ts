/**
 * F2 of issue 21: an unauthenticated client must not grow the proxy. Each attacker sends the
 * protocol header, a connection.tune-ok nobody asked for (frame_max 0xFFFFFFFF: "4 GiB
 * frames"), then the head of an inspected method frame that claims almost that size, and
 * streams its "payload". A proxy that took the tune-ok at its word held every byte of it,
 * waiting for the frame to complete; this one holds nothing over frame-min-size before
 * connection.open-ok, so the bytes stream to the broker (which closes the connection). The
 * proxy runs as a child process so its peak RSS (VmHWM) is its own.
 */
import { readFileSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Method, PROTOCOL_HEADER } from '../../../src/amqp/constants';
import { methodFrameHead, tuneOkFrame } from '../../support/amqpVectors';
import { requireBroker, uniqueName } from '../../support/broker';
import { ChildProxy, deleteQueues, startChildProxy } from '../hardening/helpers';
import { sleep } from '../../support/wait';

const ATTACKERS = 4;
/** What each attacker streams after its frame head: the proxy must not keep it. */
const STREAMED_BYTES = 48 * 1024 * 1024;
/** Peak RSS growth allowed for all attackers together: socket buffers and garbage, not their bytes. */
const BUDGET_BYTES = 64 * 1024 * 1024;
const ATTACK_TIMEOUT_MS = 15_000;

/** VmHWM (peak resident set) of a process, in bytes. */
function peakRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

/** The bytes one attacker sends before its stream: nothing a broker would authenticate. */
function hostileTuneOkThenHugeFrame(): Buffer {
  // Then a basic.publish (a method the proxy reads) on channel 1 that claims ~4 GiB.
  return Buffer.concat([PROTOCOL_HEADER, tuneOkFrame(0xffffffff), methodFrameHead(1, Method.BasicPublish, 0xffffffff - 16)]);
}

/** Sends the attack; resolves once every byte was taken or the connection was closed. */
function attack(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => socket.destroy(), ATTACK_TIMEOUT_MS);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect', () => {
      socket.write(hostileTuneOkThenHugeFrame());
      socket.write(Buffer.alloc(STREAMED_BYTES, 0x41), () => socket.destroy());
    });
  });
}

async function bystanderRoundTrip(url: string, queue: string): Promise<string> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: false });
    ch.sendToQueue(queue, Buffer.from('still here'));
    for (let i = 0; i < 100; i++) {
      const m = await ch.get(queue, { noAck: true });
      if (m) return m.content.toString();
      await sleep(20);
    }
    return '';
  } finally {
    await conn.close().catch(() => undefined);
  }
}

const memory = suite('adversarial: unauthenticated connections cannot grow the proxy');

memory(`${ATTACKERS} connections with a tune-ok before tune and a ~4 GiB method frame: peak RSS grows by less than ${BUDGET_BYTES >> 20} MiB, a bystander is served`, async () => {
  await requireBroker();
  const proxy: ChildProxy = await startChildProxy(0, { PROXY_HANDSHAKE_TIMEOUT_MS: '5000' });
  const queue = uniqueName('bystander');
  try {
    // The bystander connects first and stays connected through the attack.
    const bystander = await amqp.connect(proxy.url);
    bystander.on('error', () => undefined);
    const ch = await bystander.createChannel();
    await ch.assertQueue(queue, { durable: false });
    const before = peakRss(proxy.process.pid!);
    let attacking = true;
    let roundTrips = 0;
    // Round trips on the bystander's connection for as long as the attack lasts.
    const served = (async () => {
      while (attacking) {
        ch.sendToQueue(queue, Buffer.from('during'));
        while (!(await ch.get(queue, { noAck: true }))) await sleep(5);
        roundTrips++;
      }
    })();
    await Promise.all(Array.from({ length: ATTACKERS }, () => attack(proxy.port)));
    attacking = false;
    await served;
    const growth = peakRss(proxy.process.pid!) - before;
    if (process.env.ADVERSARIAL_DEBUG) console.log(`peak RSS growth ${(growth / 1048576).toFixed(1)} MiB, ${roundTrips} round trips`);
    assert.ok(proxy.process.exitCode === null, `the proxy is still running:\n${proxy.output()}`);
    assert.ok(growth < BUDGET_BYTES, `peak RSS grew by ${(growth / 1048576).toFixed(1)} MiB for ${ATTACKERS} x ${STREAMED_BYTES >> 20} MiB sent`);
    assert.ok(roundTrips > 0, 'the bystander was served during the attack');
    await bystander.close();
    assert.is(await bystanderRoundTrip(proxy.url, queue), 'still here', 'a new connection after the attack works');
  } finally {
    proxy.process.kill('SIGKILL');
    await proxy.exited;
    await deleteQueues(queue);
  }
});

memory.run();
