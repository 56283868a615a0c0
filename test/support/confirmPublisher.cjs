'use strict';
/**
 * A publisher that must not lose a confirmed message, for the compose rollback test
 * (test/docker/compose.test.ts; kept out of test/docker, where uvu would load it as a test). It runs
 * in the gateway's image on the compose network and dials amqp://guest:guest@rabbitmq:5672
 * like the applications do, so the network alias decides whether it goes through the proxy.
 *
 * It publishes persistent messages {"seq": n} to a durable queue with publisher confirms,
 * a few in flight, and prints one JSON line per event on stdout:
 *   {"t": ms, "confirmed": n, "conn": k}   the broker confirmed message n on connection k
 *   {"t": ms, "connected": k}              connection k is open
 *   {"t": ms, "lost": k, "why": "..."}     connection k failed; unconfirmed messages are sent again
 * Messages sent again may arrive twice; a confirmed one must arrive at least once.
 * SIGTERM stops it after the messages in flight are confirmed or given up.
 *
 *   PUBLISH_URL, PUBLISH_QUEUE, PUBLISH_INTERVAL_MS (default 20)
 */
const amqp = require('amqplib');

const url = process.env.PUBLISH_URL || 'amqp://guest:guest@rabbitmq:5672';
const queue = process.env.PUBLISH_QUEUE || 'rollback-check';
const intervalMs = Number(process.env.PUBLISH_INTERVAL_MS || 20);
const IN_FLIGHT = 5;

let stopping = false;
let nextSeq = 1;
/** Sent but not confirmed: sent again on the next connection. */
const pending = new Set();
const log = (event) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...event })}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

process.once('SIGTERM', () => {
  stopping = true;
});

async function session(conn, k) {
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: true });
  log({ connected: k });
  const failed = new Promise((_, reject) => {
    conn.once('close', (err) => reject(err || new Error('connection closed')));
    conn.once('error', reject);
  });
  failed.catch(() => undefined);
  const send = (seq) => new Promise((resolve, reject) => {
    ch.sendToQueue(queue, Buffer.from(JSON.stringify({ seq })), { persistent: true }, (err) => (err ? reject(err) : resolve()));
  });
  const inFlight = new Set();
  const publish = (seq) => {
    pending.add(seq);
    const p = Promise.race([send(seq), failed]).then(() => {
      pending.delete(seq);
      log({ confirmed: seq, conn: k });
    });
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };
  for (const seq of [...pending].sort((a, b) => a - b)) publish(seq).catch(() => undefined);
  while (!stopping) {
    if (inFlight.size >= IN_FLIGHT) await Promise.race([...inFlight]);
    else {
      publish(nextSeq++).catch(() => undefined);
      await Promise.race([sleep(intervalMs), failed]);
    }
  }
  await Promise.race([Promise.allSettled([...inFlight]), failed]);
  await conn.close().catch(() => undefined);
}

async function main() {
  for (let k = 1; !stopping; k++) {
    try {
      const conn = await amqp.connect(url, { timeout: 2000 });
      conn.on('error', () => undefined);
      await session(conn, k);
    } catch (err) {
      log({ lost: k, why: String(err && err.message).slice(0, 200) });
      await sleep(200);
    }
  }
  log({ stopped: true, unconfirmed: pending.size });
  process.exit(0);
}

main();
