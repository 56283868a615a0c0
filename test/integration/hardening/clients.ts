/**
 * Reconnecting clients (amqp-connection-manager) for the fault tests: a publisher on a
 * confirm channel that records every confirmed id, and a consumer that acks and records
 * every id it receives.
 */
import * as acm from 'amqp-connection-manager';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { Ledger } from './helpers';
import { sleep } from '../../support/wait';

export interface ManagedClients {
  /** Publishes ids from..to-1, one every `intervalMs`; resolves when all are confirmed. */
  publish(from: number, to: number, intervalMs: number): Promise<void>;
  /** Connections the clients (re)made. */
  readonly connects: { count: number };
  close(): Promise<void>;
}

export interface ConsumerOptions {
  /** Unacked deliveries the broker sends ahead (basic.qos). Default 100. */
  readonly prefetch?: number;
  /** Each delivery is acked this long after it arrived: a slow consumer, so a backlog builds. Default 0. */
  readonly ackDelayMs?: number;
}

export function managedClients(url: string, queue: string, ledger: Ledger, consumerOptions: ConsumerOptions = {}): ManagedClients {
  const { prefetch = 100, ackDelayMs = 0 } = consumerOptions;
  const options = { reconnectTimeInSeconds: 0.2, heartbeatIntervalInSeconds: 2 };
  const pubConn = acm.connect([url], options);
  const subConn = acm.connect([url], options);
  const connects = { count: 0 };
  for (const c of [pubConn, subConn]) {
    c.on('connect', () => { connects.count++; });
    c.on('connectFailed', () => undefined);
    c.on('disconnect', () => undefined);
  }
  const publisher = pubConn.createChannel({
    confirm: true,
    setup: async (ch: ConfirmChannel) => { await ch.assertQueue(queue, { durable: true }); },
  });
  const consumer = subConn.createChannel({
    setup: async (ch: ConfirmChannel) => {
      await ch.assertQueue(queue, { durable: true });
      await ch.prefetch(prefetch);
      await ch.consume(queue, (msg: ConsumeMessage | null) => {
        if (msg === null) return;
        ledger.consume(Number(msg.content.toString()));
        const ack = (): void => {
          try {
            ch.ack(msg);
          } catch { /* channel gone: the broker redelivers */ }
        };
        if (ackDelayMs > 0) setTimeout(ack, ackDelayMs);
        else ack();
      });
    },
  });
  publisher.on('error', () => undefined);
  consumer.on('error', () => undefined);
  // amqp-connection-manager rejects messages whose confirm was pending when the channel
  // closed (it cannot know whether the broker has them); like a real application, the
  // publisher sends those again. A duplicate is allowed, a loss is not.
  const publishUntilConfirmed = async (id: number): Promise<void> => {
    for (;;) {
      try {
        await publisher.sendToQueue(queue, Buffer.from(String(id)), { persistent: true });
        ledger.confirmed.add(id);
        return;
      } catch {
        await sleep(100);
      }
    }
  };
  return {
    connects,
    async publish(from, to, intervalMs) {
      const pending: Promise<unknown>[] = [];
      for (let id = from; id < to; id++) {
        pending.push(publishUntilConfirmed(id));
        if (intervalMs > 0) await sleep(intervalMs);
      }
      await Promise.all(pending);
    },
    async close() {
      await Promise.allSettled([publisher.close(), consumer.close()]);
      await Promise.allSettled([pubConn.close(), subConn.close()]);
    },
  };
}
