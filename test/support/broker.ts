import { connect } from 'node:net';

export const BROKER_HOST = process.env.TEST_BROKER_HOST ?? '127.0.0.1';
export const BROKER_PORT = Number(process.env.TEST_BROKER_PORT ?? 5672);
export const BROKER_URL = `amqp://guest:guest@${BROKER_HOST}:${BROKER_PORT}`;

let checked: Promise<void> | undefined;

/**
 * Integration tests need the real RabbitMQ. When it is not there, stop the whole run at once
 * with a message that says what to do, instead of letting every test time out.
 */
export function requireBroker(): Promise<void> {
  checked ??= new Promise<void>((resolve) => {
    const socket = connect({ host: BROKER_HOST, port: BROKER_PORT });
    const fail = (why: string): void => {
      socket.destroy();
      process.stderr.write(
        `\nNo RabbitMQ broker at ${BROKER_HOST}:${BROKER_PORT} (${why}).\n` +
          'The integration tests use a real broker: start it with `rabbitmq-server -detached` ' +
          '(or set TEST_BROKER_HOST/TEST_BROKER_PORT) and run the tests again.\n\n',
      );
      process.exit(1);
    };
    const timer = setTimeout(() => fail('connect timed out'), 3000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(err.code ?? err.message);
    });
  });
  return checked;
}

/** A name no other test run uses, for queues and exchanges a test creates and deletes. */
export function uniqueName(prefix: string): string {
  return `atp-test-${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
