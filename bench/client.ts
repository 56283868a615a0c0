/**
 * A benchmark client process: consumer, publisher(s) or idle connections, driven by the
 * harness over IPC (see lib/protocol.ts for the conversation). Every target is measured
 * with these same processes, compiled to plain JavaScript so no loader runs beside them.
 *
 * Timestamps are process.hrtime (CLOCK_MONOTONIC), which is one clock for every process on
 * the machine, so a publish time written by one process can be compared at delivery in
 * another.
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { ClientJob, ConsumerJob, FromClient, IdleJob, LatencySummary, PublisherJob, ToClient } from './lib/protocol';
import { flushTelemetry } from './lib/clientTelemetry';
import { quantileSorted } from './lib/stats';

/** Nagle off, as in any latency-minded client; give up on a connect after 15 s (amqplib clears it once open). */
const SOCKET_OPTIONS = { noDelay: true, timeout: 15000 };
const PUBLISH_OPTIONS = { contentType: 'application/octet-stream', deliveryMode: 1, headers: { app: 'bench' } };
const PERSISTENT_OPTIONS = { ...PUBLISH_OPTIONS, deliveryMode: 2 };

function send(message: FromClient): void {
  process.send?.(message);
}

function fail(err: unknown): never {
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

/** Resolved by the next message of a given type from the harness. */
const waiting = new Map<ToClient['type'], (m: ToClient) => void>();
const handlers: { onMessage?: (m: ToClient) => void } = {};

/** Commands that arrived while nobody was waiting for them ('stop' during a publish phase). */
const early: ToClient[] = [];

process.on('message', (m: ToClient) => {
  const waiter = waiting.get(m.type);
  if (waiter) {
    waiting.delete(m.type);
    waiter(m);
  } else if (m.type !== 'consumed') {
    early.push(m);
  }
  handlers.onMessage?.(m);
});
// The harness went away (crashed or was killed): never outlive it.
process.on('disconnect', () => process.exit(0));

function next<T extends ToClient['type']>(type: T): Promise<Extract<ToClient, { type: T }>> {
  const i = early.findIndex((m) => m.type === type);
  if (i >= 0) return Promise.resolve(early.splice(i, 1)[0] as Extract<ToClient, { type: T }>);
  return new Promise((resolve) => waiting.set(type, resolve as (m: ToClient) => void));
}

async function openConnections(
  url: string,
  count: number,
  batch: number,
  onBatch?: (models: ChannelModel[], opened: ChannelModel[]) => Promise<void>,
): Promise<ChannelModel[]> {
  const models: ChannelModel[] = [];
  while (models.length < count) {
    const n = Math.min(batch, count - models.length);
    const opened = await Promise.all(Array.from({ length: n }, () => connect(url, SOCKET_OPTIONS)));
    for (const model of opened) {
      model.on('error', fail);
      models.push(model);
    }
    await onBatch?.(models, opened);
  }
  return models;
}

async function closeAll(models: ChannelModel[]): Promise<void> {
  for (let i = 0; i < models.length; i += 50) {
    await Promise.all(models.slice(i, i + 50).map((m) => m.close().catch(() => undefined)));
  }
}

function summarise(latenciesMs: Float64Array): LatencySummary | undefined {
  if (latenciesMs.length === 0) return undefined;
  const sorted = latenciesMs.slice().sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50Ms: quantileSorted(sorted, 0.5),
    p99Ms: quantileSorted(sorted, 0.99),
    p999Ms: quantileSorted(sorted, 0.999),
    maxMs: sorted[sorted.length - 1]!,
    meanMs: sum / sorted.length,
  };
}

async function runConsumer(job: ConsumerJob): Promise<void> {
  const models = await openConnections(job.url, job.connections, job.connections);
  const goal = job.warmup + job.total;
  const latencies = new Float64Array(job.recordLatency ? job.total : 0);
  let measured = 0;
  let count = 0;
  let warmCpu = process.cpuUsage();
  const finish = async (lastNs: bigint): Promise<void> => {
    // In-process tracing exports after the last ack: that CPU is part of its cost.
    await flushTelemetry();
    const cpu = process.cpuUsage(warmCpu);
    send({ type: 'done', count: job.total, lastNs: lastNs.toString(), latency: summarise(latencies.subarray(0, measured)), cpuUs: cpu.user + cpu.system });
  };
  const consumeOn = async (model: ChannelModel): Promise<void> => {
    const channel = await model.createChannel();
    channel.on('error', fail);
    await channel.prefetch(job.prefetch);
    const onDelivery = (msg: ConsumeMessage | null): void => {
      if (msg === null) fail(new Error(`the broker cancelled the consumer on ${job.queue}`));
      const now = process.hrtime.bigint();
      count += 1;
      channel.ack(msg);
      if (count > job.warmup && measured < latencies.length && msg.content.length >= 8) {
        latencies[measured++] = Number(now - msg.content.readBigUInt64BE(0)) / 1e6;
      }
      if (count === job.warmup) {
        warmCpu = process.cpuUsage();
        send({ type: 'warm' });
      }
      if (job.progressEvery > 0 && count % job.progressEvery === 0) send({ type: 'progress', consumed: count });
      if (count === goal) finish(now).catch(fail);
    };
    await channel.consume(job.queue, onDelivery, { noAck: false });
  };
  await Promise.all(models.map(consumeOn));
  send({ type: 'ready', connections: models.length });
  await next('stop');
  await closeAll(models);
}

interface Lane {
  channel: Channel | ConfirmChannel;
  unconfirmed: number;
  /** Called when a confirm arrives, to wake a lane waiting for room in its window. */
  wake: (() => void) | undefined;
}

async function runPublisher(job: PublisherJob): Promise<void> {
  const models = await openConnections(job.url, job.connections, 50);
  const lanes: Lane[] = [];
  for (const model of models) {
    const confirms = job.mode === 'confirm' || job.confirms;
    const channel = confirms ? await model.createConfirmChannel() : await model.createChannel();
    channel.on('error', fail);
    lanes.push({ channel, unconfirmed: 0, wake: undefined });
  }
  const template = Buffer.alloc(job.bodyBytes, 0x61);
  const largeTemplate = Buffer.alloc(job.largeEvery > 0 ? job.largeBytes : 0, 0x62);
  const options = job.persistent ? PERSISTENT_OPTIONS : PUBLISH_OPTIONS;
  const confirms = job.mode === 'confirm' || job.confirms;
  let published = 0;
  let consumed = 0;
  let flowWake: (() => void) | undefined;
  handlers.onMessage = (m) => {
    if (m.type === 'consumed') {
      consumed = m.count;
      flowWake?.();
    }
  };

  const body = (): Buffer => {
    const large = job.largeEvery > 0 && (published + 1) % job.largeEvery === 0;
    const source = large ? largeTemplate : template;
    if (!job.stampBodies) return source;
    // A fresh buffer: amqplib may still hold the previous one in its write queue.
    const b = Buffer.from(source);
    b.writeBigUInt64BE(process.hrtime.bigint(), 0);
    return b;
  };

  const flowBlocked = (): boolean => job.flowWindow > 0 && published - consumed >= job.flowWindow;
  const flowOpen = (): Promise<void> =>
    new Promise<void>((resolve) => (flowWake = resolve)).then(() => {
      flowWake = undefined;
    });
  const laneOpen = (lane: Lane): Promise<void> =>
    new Promise<void>((resolve) => (lane.wake = resolve)).then(() => {
      lane.wake = undefined;
    });

  /**
   * Publish one message on a lane. Returns a promise only when the lane must wait (flow
   * window, confirm window or socket backpressure), so the common path allocates none.
   */
  const publishOne = (lane: Lane): Promise<void> | undefined => {
    if (flowBlocked()) return flowOpen().then(() => publishOne(lane));
    let writable: boolean;
    if (confirms) {
      if (job.confirmWindow > 0 && lane.unconfirmed >= job.confirmWindow) return laneOpen(lane).then(() => publishOne(lane));
      lane.unconfirmed += 1;
      writable = (lane.channel as ConfirmChannel).sendToQueue(job.queue, body(), options, (err) => {
        if (err) fail(new Error(`message nacked by the broker on ${job.queue}`));
        lane.unconfirmed -= 1;
        lane.wake?.();
      });
    } else {
      writable = lane.channel.sendToQueue(job.queue, body(), options);
    }
    published += 1;
    return writable ? undefined : new Promise<void>((resolve) => lane.channel.once('drain', resolve));
  };

  const allConfirmed = async (lane: Lane): Promise<void> => {
    while (lane.unconfirmed > 0) await laneOpen(lane);
  };

  const floodLane = async (lane: Lane, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const wait = publishOne(lane);
      if (wait) await wait;
      // Let the other lanes, confirms and IPC in now and then.
      else if ((i & 63) === 63) await yieldToLoop();
    }
    await allConfirmed(lane);
  };

  const ratePhase = async (total: number): Promise<void> => {
    const intervalNs = 1e9 / job.ratePerSecond;
    const start = process.hrtime.bigint();
    let sent = 0;
    while (sent < total) {
      const elapsedNs = Number(process.hrtime.bigint() - start);
      const due = Math.min(total, Math.floor(elapsedNs / intervalNs) + 1);
      while (sent < due) {
        const wait = publishOne(lanes[sent % lanes.length]!);
        sent += 1;
        if (wait) await wait;
      }
      if (sent < total) await sleep(Math.max(0, (sent * intervalNs - Number(process.hrtime.bigint() - start)) / 1e6));
    }
    await Promise.all(lanes.map(allConfirmed));
  };

  send({ type: 'ready', connections: lanes.length });
  for (;;) {
    const m = await Promise.race([next('publish'), next('stop')]);
    if (m.type === 'stop') break;
    const firstNs = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const before = published;
    if (job.mode === 'rate') await ratePhase(m.perConnection * lanes.length);
    else await Promise.all(lanes.map((lane) => floodLane(lane, m.perConnection)));
    const lastNs = process.hrtime.bigint();
    if (m.measured) await flushTelemetry();
    const cpu = process.cpuUsage(cpu0);
    send({
      type: 'published',
      count: published - before,
      firstNs: firstNs.toString(),
      lastNs: lastNs.toString(),
      measured: m.measured,
      cpuUs: cpu.user + cpu.system,
    });
  }
  await closeAll(models);
}

async function runIdle(job: IdleJob): Promise<void> {
  const checkpoints = new Set(job.checkpoints);
  // One channel per connection, as a real client holds: the target may keep state per channel.
  const models = await openConnections(job.url, job.connections, job.batch, async (all, opened) => {
    const channels = await Promise.all(opened.map((model) => model.createChannel()));
    for (const channel of channels) channel.on('error', fail);
    if (checkpoints.has(all.length)) {
      send({ type: 'checkpoint', open: all.length });
      await next('continue');
    }
  });
  send({ type: 'ready', connections: models.length });
  await next('stop');
  await closeAll(models);
}

async function main(): Promise<void> {
  const { job } = await next('job');
  const run: Record<ClientJob['role'], (j: never) => Promise<void>> = {
    consumer: runConsumer,
    publisher: runPublisher,
    idle: runIdle,
  };
  await run[job.role](job as never);
  process.exit(0);
}

main().catch(fail);
