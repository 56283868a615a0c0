/**
 * What the two headers the proxy adds cost RabbitMQ itself, without any proxy: the same
 * 1 KiB messages published straight to the broker and consumed with acks, with the bench
 * publisher's own headers table ({ app }), with the proxy's additions (a traceparent, the
 * publish stamp, both) already in it, and with the same extra bytes in the body instead,
 * alternating, several rounds.
 * Broker CPU comes from /proc of the beam.smp process, the clients' from process.cpuUsage.
 *
 *   npx tsx bench/probes/headerCost.ts                      3 rounds of 50,000 messages per variant
 *   HEADERCOST_MESSAGES=100000 HEADERCOST_ROUNDS=5 npx tsx bench/probes/headerCost.ts
 *
 * Needs RabbitMQ on BENCH_BROKER (default 127.0.0.1:5672, guest/guest) on this machine.
 */
import { connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { findPidListeningOn, readCpu } from '../lib/procfs';
import { median } from '../lib/stats';

const BROKER = process.env['BENCH_BROKER'] ?? '127.0.0.1:5672';
const URL = `amqp://guest:guest@${BROKER}`;
const MESSAGES = Number(process.env['HEADERCOST_MESSAGES'] ?? 50_000);
const ROUNDS = Number(process.env['HEADERCOST_ROUNDS'] ?? 3);
const BODY = Buffer.alloc(1024, 0x61);

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
/** The same number of extra bytes as the two headers, added to the body instead. */
const BIGGER_BODY = Buffer.alloc(BODY.length + 90, 0x61);

const VARIANTS = {
  'app header only': { headers: () => ({ app: 'bench' }), body: BODY },
  'app only, body 90 bytes longer': { headers: () => ({ app: 'bench' }), body: BIGGER_BODY },
  'plus traceparent': { headers: () => ({ app: 'bench', traceparent: TRACEPARENT }), body: BODY },
  'plus stamp': { headers: () => ({ app: 'bench', 'x-trace-proxy-published-us': String(Date.now() * 1000) }), body: BODY },
  'plus traceparent + stamp': {
    headers: () => ({ app: 'bench', traceparent: TRACEPARENT, 'x-trace-proxy-published-us': String(Date.now() * 1000) }),
    body: BODY,
  },
} as const;
type Variant = keyof typeof VARIANTS;

interface Sample {
  rate: number;
  brokerUs: number;
  clientUs: number;
}

async function runOnce(variant: Variant, brokerPid: number): Promise<Sample> {
  const publisherConn = await connect(URL);
  const consumerConn = await connect(URL);
  try {
    const pub = await publisherConn.createChannel();
    const sub = await consumerConn.createChannel();
    const queue = `headercost-${randomUUID()}`;
    await sub.assertQueue(queue, { exclusive: true, autoDelete: true });
    await sub.prefetch(256);
    let consumed = 0;
    const done = new Promise<void>((resolve) => {
      void sub.consume(queue, (msg) => {
        if (msg === null) return;
        sub.ack(msg);
        if (++consumed === MESSAGES) resolve();
      });
    });
    const broker0 = readCpu(brokerPid);
    const client0 = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      const options = { contentType: 'application/octet-stream', deliveryMode: 1, headers: VARIANTS[variant].headers() };
      if (!pub.publish('', queue, VARIANTS[variant].body, options)) await new Promise((resolve) => pub.once('drain', resolve));
    }
    await done;
    const seconds = (performance.now() - started) / 1000;
    const broker1 = readCpu(brokerPid);
    const client = process.cpuUsage(client0);
    await sub.deleteQueue(queue);
    return {
      rate: MESSAGES / seconds,
      brokerUs: broker0 && broker1 ? (broker1.statUs - broker0.statUs) / MESSAGES : Number.NaN,
      clientUs: (client.user + client.system) / MESSAGES,
    };
  } finally {
    await publisherConn.close().catch(() => undefined);
    await consumerConn.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const brokerPid = findPidListeningOn('beam.smp', 5672);
  if (brokerPid === undefined) throw new Error('no beam.smp process on this machine: run RabbitMQ locally');
  const samples = new Map<Variant, Sample[]>(Object.keys(VARIANTS).map((v) => [v as Variant, []]));
  await runOnce('app header only', brokerPid); // warm-up
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      const sample = await runOnce(variant, brokerPid);
      samples.get(variant)!.push(sample);
      process.stderr.write(`round ${round} ${variant}: ${Math.round(sample.rate)} msgs/s, broker ${sample.brokerUs.toFixed(1)} µs/msg\n`);
    }
  }
  console.log(`${MESSAGES} × 1 KiB per run, ${ROUNDS} rounds alternated, medians (npx tsx bench/probes/headerCost.ts)\n`);
  console.log('| headers | msgs/s | broker CPU µs/msg | client CPU µs/msg |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [variant, list] of samples) {
    console.log(`| ${variant} | ${Math.round(median(list.map((s) => s.rate))).toLocaleString('en-US')} | `
      + `${median(list.map((s) => s.brokerUs)).toFixed(1)} | ${median(list.map((s) => s.clientUs)).toFixed(1)} |`);
  }
  // Each round runs every variant back to back, so the difference within a round cancels
  // most of what other load on the machine adds; its median is the figure to quote.
  const paired = (label: string, base: Variant, plus: Variant): void => {
    const baseline = samples.get(base)!;
    const deltas = samples.get(plus)!.map((s, i) => s.brokerUs - baseline[i]!.brokerUs);
    const shares = samples.get(plus)!.map((s, i) => s.brokerUs / baseline[i]!.brokerUs - 1);
    console.log(`| ${label} | ${median(deltas).toFixed(1)} | ${(median(shares) * 100).toFixed(1)} % | `
      + `${deltas.map((d) => d.toFixed(1)).join(', ')} |`);
  };
  console.log('\nBroker CPU added, paired within each round (median; then every round):\n');
  console.log('| what is added | µs/msg | share | per round |');
  console.log('| --- | ---: | ---: | --- |');
  paired('traceparent, to { app }', 'app header only', 'plus traceparent');
  paired('the stamp, to { app }', 'app header only', 'plus stamp');
  paired('the stamp, to { app, traceparent } (what --publish-stamp costs)', 'plus traceparent', 'plus traceparent + stamp');
  paired('90 bytes of body instead', 'app header only', 'app only, body 90 bytes longer');
}

main().catch((err: unknown) => {
  process.stderr.write(`headerCost: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
