import pino from 'pino';
import { App, startApp } from '../../src/app';
import { loadConfig } from '../../src/config/config';
import { BROKER_HOST, BROKER_PORT } from './broker';

export interface TestProxy {
  readonly app: App;
  readonly port: number;
  /** amqp:// URL clients use to go through the proxy. */
  readonly url: string;
  readonly metricsUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts the proxy in-process on ephemeral ports, configured exactly as from the command
 * line: `env` is the environment the proxy would see, `args` its flags.
 */
export async function startTestProxy(env: Record<string, string> = {}, args: string[] = []): Promise<TestProxy> {
  const config = loadConfig(args, {
    PROXY_LISTEN: '127.0.0.1:0',
    PROXY_UPSTREAM: `amqp://${BROKER_HOST}:${BROKER_PORT}`,
    METRICS_LISTEN: '127.0.0.1:0',
    ADMIN_LISTEN: 'off',
    OTEL_TRACES_EXPORTER: 'none',
    ...env,
  });
  const app = await startApp(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  const port = app.proxyAddress.port;
  return {
    app,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    metricsUrl: app.metricsAddress ? `http://127.0.0.1:${app.metricsAddress.port}` : '',
    stop: () => app.stop(),
  };
}
