/**
 * The probes' client shape (the sidecar table's): one amqplib publisher and one consumer on
 * their own connections through `port`, prefetch 256, each delivery acked, 1 KiB bodies
 * with one header.
 */
import { connect } from 'amqplib';

export interface AckingPair {
  publish(): void;
  /** Deliveries consumed (and acked) so far. */
  received(): number;
  close(): Promise<void>;
}

export async function openAckingPair(port: number, name: string): Promise<AckingPair> {
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const publisher = await connect(url, { noDelay: true });
  const consumer = await connect(url, { noDelay: true });
  const pub = await publisher.createChannel();
  const sub = await consumer.createChannel();
  const queue = `${name}.${process.pid}`;
  await sub.assertQueue(queue, { durable: false, autoDelete: true });
  await sub.prefetch(256);
  let received = 0;
  await sub.consume(queue, (msg) => {
    if (msg === null) return;
    sub.ack(msg);
    received += 1;
  });
  const body = Buffer.alloc(1024, 0x61);
  return {
    publish: () => void pub.sendToQueue(queue, body, { headers: { app: name } }),
    received: () => received,
    close: async () => {
      await publisher.close();
      await consumer.close();
    },
  };
}
