/**
 * The proxy image as users run it: built from docker/Dockerfile unchanged (on the local
 * stand-in for node:20-bookworm-slim), started read-only in front of a RabbitMQ 4.0
 * container, reached by an amqplib client through the published port, and stopped with
 * `docker stop`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { consumeN, headersOf, withConnection } from '../support/amqp';
import { uniqueName } from '../support/broker';
import {
  IMAGES, createNetwork, docker, removeLeftovers, removeNetwork, requireDocker, runContainer, runName, startRabbitMq4, waitHealthy,
  type Container,
} from '../support/docker';
import { sleep } from '../support/wait';

const DRAIN_TIMEOUT_MS = 3000;
const STOP_TIMEOUT_S = 20;

interface Ctx {
  network: string;
  broker: Container & { url: string };
  proxy: Container;
  proxyUrl: string;
  metricsUrl: string;
}

const image = suite<Ctx>('proxy image', {} as Ctx);

image.before(async (ctx) => {
  await requireDocker();
  removeLeftovers();
  ctx.network = runName('image');
  await createNetwork(ctx.network);
  ctx.broker = await startRabbitMq4(`${ctx.network}-mq`, ctx.network, 'mq');
  ctx.proxy = await runContainer(`${ctx.network}-proxy`, IMAGES.proxy, [
    '--network', ctx.network, '--read-only', '-p', '127.0.0.1::5673', '-p', '127.0.0.1::9464',
    '-e', 'PROXY_UPSTREAM=amqp://mq:5672', '-e', `DRAIN_TIMEOUT_MS=${DRAIN_TIMEOUT_MS}`, '-e', 'OTEL_TRACES_EXPORTER=none',
  ]);
  await waitHealthy(ctx.proxy);
  ctx.proxyUrl = `amqp://guest:guest@127.0.0.1:${await ctx.proxy.hostPort(5673)}`;
  ctx.metricsUrl = `http://127.0.0.1:${await ctx.proxy.hostPort(9464)}/metrics`;
});

image.after(async (ctx) => {
  await ctx.proxy?.remove();
  await ctx.broker?.remove();
  if (ctx.network) await removeNetwork(ctx.network);
});

image('healthy by its own HEALTHCHECK, as uid 1000 on a read-only root filesystem', async ({ proxy }) => {
  assert.is(await proxy.inspect<string>('.Config.User'), '1000:1000');
  assert.is(await proxy.inspect<boolean>('.HostConfig.ReadonlyRootfs'), true);
  assert.is(await docker('exec', proxy.name, 'id', '-u'), '1000');
  const write = await docker('exec', proxy.name, 'node', '-e', "require('fs').writeFileSync('/app/x','')").then(() => 'written', (e: Error) => e.message);
  assert.match(write, /EROFS|read-only/);
  const health = await proxy.inspect<{ Status: string; Log: { ExitCode: number }[] }>('.State.Health');
  assert.is(health.Status, 'healthy');
  assert.ok(health.Log.length > 0 && health.Log.every((l) => l.ExitCode === 0), JSON.stringify(health.Log));
});

image('an amqplib client through the published port gets traceparent; the metrics count it', async ({ broker, proxyUrl, metricsUrl }) => {
  const before = await publishedCount(metricsUrl);
  const msgs = await withConnection(broker.url, async (direct) => {
    const consumer = await direct.createChannel();
    const queue = (await consumer.assertQueue(uniqueName('image'), { exclusive: true })).queue;
    const received = consumeN(consumer, queue, 3);
    await withConnection(proxyUrl, async (conn) => {
      const ch = await conn.createConfirmChannel();
      for (let i = 0; i < 3; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
      await ch.waitForConfirms();
    });
    return received;
  });
  for (const msg of msgs) assert.ok(parseTraceParent(String(headersOf(msg)[Header.traceparent])), JSON.stringify(headersOf(msg)));
  assert.is((await publishedCount(metricsUrl)) - before, 3);
});

image('docker stop drains: the client keeps working, then gets connection.close 320, and the proxy exits 0', async ({ proxy, broker, proxyUrl }) => {
  const conn = await amqp.connect(proxyUrl);
  const closed = new Promise<{ code?: number; message: string }>((resolve) => conn.once('close', (err: { code?: number; message: string }) => resolve(err)));
  const ch = await conn.createConfirmChannel();
  const queue = (await ch.assertQueue(uniqueName('drain'), { durable: false, autoDelete: false })).queue;
  const stopping = docker('stop', '-t', String(STOP_TIMEOUT_S), proxy.name);
  // The proxy stops accepting at once but serves open connections for DRAIN_TIMEOUT_MS.
  await sleep(DRAIN_TIMEOUT_MS / 3);
  ch.sendToQueue(queue, Buffer.from('during drain'));
  await ch.waitForConfirms();
  const err = await closed;
  assert.is(err.code, 320, err.message);
  await stopping;
  const state = await proxy.inspect<{ Status: string; ExitCode: number; OOMKilled: boolean }>('.State');
  assert.is(state.Status, 'exited');
  assert.is(state.ExitCode, 0, `exit code ${state.ExitCode} (137 would mean killed after ${STOP_TIMEOUT_S} s)`);
  assert.match(await proxy.logs(), /drained; exiting/);
  const got = await withConnection(broker.url, async (c) => {
    const check = await c.createChannel();
    const msg = await check.get(queue, { noAck: true });
    await check.deleteQueue(queue);
    return msg;
  });
  assert.ok(got && got.content.toString() === 'during drain', 'the message published during the drain reached the broker');
});

async function publishedCount(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('amqp_trace_proxy_messages_published_total'));
  assert.ok(line, `no amqp_trace_proxy_messages_published_total in:\n${text.slice(0, 2000)}`);
  return Number(line!.split(' ').pop());
}

image.run();
