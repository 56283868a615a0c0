import * as amqp from 'amqplib';
import type { ConsumeMessage, GetMessage } from 'amqplib';

export type Message = ConsumeMessage | GetMessage;

/** Consumes exactly `count` messages from `queue`, acking each, or fails after `timeoutMs`. */
export function consumeN(channel: amqp.Channel, queue: string, count: number, timeoutMs = 10_000): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    const got: Message[] = [];
    const timer = setTimeout(() => reject(new Error(`got ${got.length}/${count} messages from ${queue}`)), timeoutMs);
    void channel.consume(queue, (msg) => {
      if (msg === null) return;
      got.push(msg);
      channel.ack(msg);
      if (got.length === count) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

export async function withConnection<T>(url: string, fn: (conn: amqp.ChannelModel) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(url);
  try {
    return await fn(conn);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

export function headersOf(msg: Message): Record<string, unknown> {
  return (msg.properties.headers ?? {}) as Record<string, unknown>;
}
