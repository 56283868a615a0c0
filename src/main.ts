#!/usr/bin/env node
import { App, StartupAborted, startApp } from './app';
import { ConfigError, HelpRequested, loadConfig } from './config/config';
import { redact } from './config/options';
import { keepServingOnEscapedErrors } from './log/escapedErrors';
import { createLogger } from './log/logger';
import { disableIncrementalMarking } from './proxy/gcTuning';

/** Process concerns only: arguments, signals, exit codes. Everything else is in app.ts. */
async function main(argv: string[]): Promise<void> {
  // Loaded only for the subcommand: the proxy never needs the webhook's modules (issue 24).
  if (argv[0] === 'webhook') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { runWebhookCommand } = require('./webhook/cli') as typeof import('./webhook/cli');
    return runWebhookCommand(argv.slice(1), process.env, keepServingOnEscapedErrors);
  }
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
  keepServingOnEscapedErrors(logger);
  // Installed before the first listener opens: a signal during start-up stops it cleanly.
  const abort = new AbortController();
  let app: App | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    if (app === undefined) {
      logger.info({ signal }, 'signal during start-up: closing what is open');
      abort.abort();
      return;
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
  try {
    app = await startApp(config, logger, abort.signal);
  } catch (err) {
    if (err instanceof StartupAborted) {
      logger.info('stopped during start-up; exiting');
      process.exit(0);
    }
    // One line, like the config errors: the failed address and the option that sets it.
    process.stderr.write(`amqp-trace-proxy: could not start: ${redact((err as Error).message)}\n`);
    process.exit(1);
  }
}

// Before the proxy allocates anything: see gcTuning.ts for why and what it measured.
disableIncrementalMarking();
main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`amqp-trace-proxy: ${redact(err.stack ?? err.message)}\n`);
  process.exit(1);
});
