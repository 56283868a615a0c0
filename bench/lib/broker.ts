/**
 * The harness's own, unmeasured, connection to RabbitMQ: queue setup and teardown, the
 * broker's version, and a handshake probe through a target before it is measured.
 */
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { execFile } from 'node:child_process';

/** Queues left behind by a killed run disappear on their own after this long unused. */
const QUEUE_EXPIRES_MS = 10 * 60 * 1000;

export function amqpUrl(host: string, port: number, user: string, password: string): string {
  return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}`;
}

export class BrokerAdmin {
  /** Queues declared and not yet deleted: what an interrupted run must still remove. */
  private readonly declared = new Set<string>();

  private constructor(
    private readonly model: ChannelModel,
    private readonly channel: Channel,
  ) {}

  static async open(url: string): Promise<BrokerAdmin> {
    let model: ChannelModel;
    try {
      model = await connect(url);
    } catch (err) {
      throw new Error(`cannot reach RabbitMQ at ${url.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}. Start the broker (or set BENCH_BROKER) and run again.`);
    }
    const channel = await model.createChannel();
    return new BrokerAdmin(model, channel);
  }

  get version(): string {
    const version = this.model.connection.serverProperties['version'];
    return typeof version === 'string' ? version : 'unknown';
  }

  /** Durable when the workload's messages are persistent: RabbitMQ writes those to disk only in a durable queue. */
  async declareQueue(name: string, durable = false): Promise<void> {
    await this.channel.assertQueue(name, { durable, autoDelete: false, arguments: { 'x-expires': QUEUE_EXPIRES_MS } });
    this.declared.add(name);
  }

  async deleteQueue(name: string): Promise<void> {
    await this.channel.deleteQueue(name).catch(() => undefined);
    this.declared.delete(name);
  }

  async deleteDeclared(): Promise<void> {
    await Promise.all([...this.declared].map((name) => this.deleteQueue(name)));
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }
}

/** Opens a connection and a channel through a target and closes them, within `timeoutMs`. */
export async function probeHandshake(url: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`AMQP handshake through it did not finish in ${timeoutMs} ms`)), timeoutMs);
  });
  const attempt = (async () => {
    const model = await connect(url, { noDelay: true });
    try {
      const channel = await model.createChannel();
      await channel.close();
    } finally {
      await model.close().catch(() => undefined);
    }
  })();
  try {
    await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
    attempt.catch(() => undefined);
  }
}

export interface SocketLimits {
  limit: number;
  used: number;
}

/**
 * How many sockets the broker will accept, from `rabbitmqctl status` (needs local access
 * to the node; undefined when that is not possible). RabbitMQ refuses connections beyond
 * this limit, which derives from its open-file limit (1024 by default on Debian).
 */
export function brokerSocketLimits(): Promise<SocketLimits | undefined> {
  return new Promise((resolve) => {
    execFile('rabbitmqctl', ['status', '--formatter', 'json'], { timeout: 15000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        const fd = (JSON.parse(stdout) as { file_descriptors?: { sockets_limit?: number; sockets_used?: number } }).file_descriptors;
        if (typeof fd?.sockets_limit !== 'number') return resolve(undefined);
        resolve({ limit: fd.sockets_limit, used: fd.sockets_used ?? 0 });
      } catch {
        resolve(undefined);
      }
    });
  });
}
