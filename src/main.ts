#!/usr/bin/env node
import { startApp } from './app';
import { ConfigError, HelpRequested, loadConfig } from './config/config';
import { createLogger } from './log/logger';
import { runWebhookCommand } from './webhook/cli';

/** Process concerns only: arguments, signals, exit codes. Everything else is in app.ts. */
async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'webhook') return runWebhookCommand(argv.slice(1), process.env);
  let config;
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.message);
      return;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`amqp-trace-proxy: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let app;
  try {
    app = await startApp(config, logger);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'could not start');
    process.exitCode = 1;
    return;
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'draining');
    app.drain().then(
      () => {
        logger.info('drained; exiting');
        process.exit(0);
      },
      (err: Error) => {
        logger.error({ err: err.message }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`amqp-trace-proxy: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
