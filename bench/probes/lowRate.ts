/**
 * A paced publish/consume load through one port, in batches on command, for counting a
 * middle hop's instructions per message at a low rate (each message its own wake-ups) with
 * callgrind: bench/probes/lowRateCallgrind.sh drives it. One amqplib publisher and one
 * consumer (prefetch 256, ack each), 1 KiB bodies with one header, the sidecar table's shape.
 *
 * Reads lines "COUNT [RATE]" on stdin: sends COUNT messages at RATE msg/s (default: the
 * command line's), waits until all are consumed, then 300 ms more, and prints "done COUNT".
 * "quit" closes both connections. Prints "ready" once consuming.
 *
 *   npx tsx bench/probes/lowRate.ts PORT RATE
 */
import { createInterface } from 'node:readline';
import { openAckingPair } from './ackingPair';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const [portArg, rateArg] = process.argv.slice(2);
  const port = Number(portArg);
  const defaultRate = Number(rateArg ?? 20);
  if (!Number.isInteger(port) || port <= 0 || !(defaultRate > 0)) throw new Error('usage: lowRate.ts PORT RATE');
  const pair = await openAckingPair(port, 'low-rate');
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === 'quit') break;
    const [countText, rateText] = line.trim().split(/\s+/);
    const count = Number(countText);
    const rate = Number(rateText ?? defaultRate);
    if (!(count > 0) || !(rate > 0)) continue;
    const target = pair.received() + count;
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      pair.publish();
      const due = start + ((i + 1) * 1000) / rate;
      await sleep(Math.max(0, due - performance.now()));
    }
    while (pair.received() < target) await sleep(20);
    await sleep(300);
    process.stdout.write(`done ${count}\n`);
  }
  await pair.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
