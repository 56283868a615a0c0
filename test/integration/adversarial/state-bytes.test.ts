/**
 * Issue 21, F5: state that messages put into the proxy is bounded by bytes, not only by
 * count. The review's three cases at reduced scale, through a child proxy (its own process,
 * so its peak RSS is its own) against the real broker:
 *
 * - Celery task ids of 60 KiB, delivered (the continuation map kept every one);
 * - unacked deliveries whose content headers are just under the 16 KiB a record copies;
 * - mandatory publishes on many channels without confirms (4 MiB of copies per channel).
 *
 * Without byte budgets the proxy holds about 120 MB after this; with them, 12 MiB at most.
 * The assertion is on VmHWM (the peak resident set) of the child, so a transient peak counts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import * as amqp from 'amqplib';
import { BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { ChildProxy, sleep, startChildProxy } from '../hardening/helpers';

const KIB = 1024;
const MIB = 1024 * KIB;
/**
 * What the child's peak may grow by: what the budgets let it keep (4 MiB for each of the
 * three connections) and what passes through meanwhile, about 40 MiB of frames, socket
 * buffers and records made and dropped before a collection (measured: 51 MiB in all with
 * the budgets, 169 MiB without them).
 */
const GROWTH_BUDGET = 80 * MIB;

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * KIB;
}

async function connect(proxy: ChildProxy): Promise<amqp.ChannelModel> {
  // Content headers of 60 KiB must fit one frame.
  return amqp.connect(`${proxy.url}?frameMax=131072`);
}

/** Publishes straight to the broker, in batches that wait for its confirms. */
async function publishDirect(queue: string, count: number, headers: (i: number) => Record<string, unknown>): Promise<void> {
  const conn = await amqp.connect(`${BROKER_URL}?frameMax=131072`);
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < count; i++) {
    ch.sendToQueue(queue, Buffer.from('m'), { headers: headers(i) });
    if (i % 100 === 99) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  await conn.close();
}

async function receive(ch: amqp.Channel, queue: string, count: number, noAck: boolean): Promise<void> {
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got}/${count} from ${queue}`)), 60_000);
    void ch.consume(queue, () => {
      if (++got === count) {
        clearTimeout(timer);
        resolve();
      }
    }, { noAck });
  });
}

test('task ids, unacked records and returnable copies stay within the byte budgets', async () => {
  await requireBroker();
  const proxy = await startChildProxy(0, {
    PROXY_CONNECTION_STATE_MAX_BYTES: String(4 * MIB),
    // Outcome export on, so unsampled deliveries are recorded: spans go to a port where nothing listens.
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_TRACES_SAMPLER: 'always_off',
  });
  const setup = await amqp.connect(BROKER_URL);
  const admin = await setup.createChannel();
  const tasks = uniqueName('f5-tasks');
  const unacked = uniqueName('f5-unacked');
  const returnable = uniqueName('f5-returnable');
  await admin.assertQueue(tasks, { durable: false });
  await admin.assertQueue(unacked, { durable: false });
  // Routed, so never returned: the copies stay until something pushes them out.
  await admin.assertQueue(returnable, { durable: false, arguments: { 'x-max-length': 1 } });
  const clients: amqp.ChannelModel[] = [];
  try {
    const warm = await connect(proxy);
    clients.push(warm);
    await (await warm.createChannel()).checkQueue(tasks);
    await sleep(500);
    const before = peakRss(proxy.process.pid!);

    // 600 Celery task messages with 60 KiB ids, consumed through the proxy.
    const worker = await connect(proxy);
    clients.push(worker);
    await publishDirect(tasks, 600, (i) => ({ id: `${i}-`.padEnd(60 * KIB, 'x'), task: 'tasks.add' }));
    await receive(await worker.createChannel(), tasks, 600, true);

    // 1,500 deliveries never acked, each with a 15 KiB header.
    const consumer = await connect(proxy);
    clients.push(consumer);
    await publishDirect(unacked, 1500, (i) => ({ pad: `${i}-`.padEnd(15 * KIB, 'p') }));
    await receive(await consumer.createChannel(), unacked, 1500, false);

    // 16 channels, each with 40 mandatory publishes of 60 KiB headers: 4 MiB of copies each (a copy keeps the header as sent and as forwarded).
    const publisher = await connect(proxy);
    clients.push(publisher);
    for (let c = 0; c < 16; c++) {
      const ch = await publisher.createChannel();
      for (let i = 0; i < 40; i++) {
        ch.publish('', returnable, Buffer.from('r'), { mandatory: true, headers: { pad: `${c}-${i}-`.padEnd(60 * KIB, 'r') } });
      }
      // A round trip: the proxy has read every publish of this channel.
      await ch.checkQueue(returnable);
    }
    await sleep(500);
    const growth = peakRss(proxy.process.pid!) - before;
    assert.ok(growth < GROWTH_BUDGET, `peak RSS grew by ${(growth / MIB).toFixed(1)} MiB, budget ${GROWTH_BUDGET / MIB} MiB`);
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const q of [tasks, unacked, returnable]) await admin.deleteQueue(q).catch(() => undefined);
    await setup.close();
    proxy.process.kill('SIGTERM');
    await proxy.exited;
  }
});

test.run();
