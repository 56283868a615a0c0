/**
 * A plain load through one port, for looking at a single process from outside (`node
 * --trace-gc`, `--cpu-prof`, /proc/<pid>/stat): one amqplib publisher and one consumer
 * (prefetch 256, ack each, at most 2,048 messages in flight), N messages of a given size,
 * then exit. docs/PERFORMANCE.md (third round) used it for the garbage-collection figures:
 *
 *   ENABLE_TRACE_PROPAGATION=false PROXY_LISTEN=127.0.0.1:5680 METRICS_LISTEN=off ADMIN_LISTEN=off \
 *     node --trace-gc dist/main.js > gc.log &
 *   npx tsx bench/probes/loadThrough.ts 5680 20000 16384
 */
import { connect } from 'amqplib';

async function main(): Promise<void> {
  const [portArg, countArg, sizeArg] = process.argv.slice(2);
  const port = Number(portArg);
  const count = Number(countArg ?? 20000);
  const size = Number(sizeArg ?? 16384);
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: loadThrough.ts PORT [MESSAGES] [BODY_BYTES]');
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const publisher = await connect(url, { noDelay: true });
  const consumer = await connect(url, { noDelay: true });
  const pub = await publisher.createChannel();
  const sub = await consumer.createChannel();
  const queue = `load-through.${process.pid}`;
  await sub.assertQueue(queue, { durable: false, autoDelete: true });
  await sub.prefetch(256);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    void sub.consume(queue, (msg) => {
      if (msg === null) return;
      sub.ack(msg);
      if (++received === count) resolve();
    });
  });
  const body = Buffer.alloc(size, 0x61);
  for (let sent = 0; sent < count; ) {
    if (sent - received > 2048) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    if (!pub.sendToQueue(queue, body, { headers: { app: 'load' } })) await new Promise((resolve) => pub.once('drain', resolve));
    sent += 1;
    if ((sent & 63) === 0) await new Promise(setImmediate);
  }
  await done;
  await publisher.close();
  await consumer.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
