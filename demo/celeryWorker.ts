/**
 * Starts the demo's Celery app (demo/worker) as a worker process for `make demo`.
 *
 * Celery comes from Debian (its packages are in scripts/host-deps.tsv) and runs under
 * /usr/bin/python3, which may not be the `python3` first on PATH. The tests have their own
 * launcher with a probe (test/support/celery.ts); this one only starts and stops.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { installHint } from '../test/support/hostDeps';

export const CELERY_PYTHON = '/usr/bin/python3';
const DEMO_DIR = __dirname;
/**
 * No gossip or mingle traffic. The worker heartbeat stays on: it is also the timer that
 * wakes an idle worker's loop, and Celery writes acks on its next loop pass, so without it
 * the ack of the last task (the end of its process span) comes about 10 s late.
 */
export const WORKER_ARGS = ['--without-gossip', '--without-mingle'];

export interface DemoQueues { llm: string; whisper: string; vector: string }

/** Environment that points the demo Celery app at a broker (or the proxy) and at its queues. */
export function demoEnv(brokerUrl: string, queues: DemoQueues, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PYTHONPATH: resolve(DEMO_DIR),
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    CELERY_BROKER_URL: brokerUrl,
    DEMO_QUEUE_LLM: queues.llm,
    DEMO_QUEUE_WHISPER: queues.whisper,
    DEMO_QUEUE_VECTOR: queues.vector,
    ...extra,
  };
}

export interface DemoWorker {
  readonly nodeName: string;
  /** What the worker logged (Celery logs to stderr), for error messages. */
  log(): string;
  /** SIGTERM (Celery's warm shutdown), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function checkCelery(): void {
  try {
    execFileSync(CELERY_PYTHON, ['-c', 'import celery'], { stdio: 'ignore' });
  } catch {
    throw new Error(`${CELERY_PYTHON} cannot import celery: ${installHint('python3:celery')}`);
  }
}

/** `env`: extra environment for demo/worker/app.py, e.g. DEMO_DEAD_LETTER_EXCHANGE. */
export async function startDemoWorker(brokerUrl: string, queues: DemoQueues, readyTimeoutMs = 30_000, env: Record<string, string> = {}): Promise<DemoWorker> {
  const nodeName = `demo-${randomBytes(4).toString('hex')}@localhost`;
  const child = spawn(CELERY_PYTHON, [
    '-m', 'celery', '-A', 'worker.app', 'worker',
    '-Q', [queues.llm, queues.whisper, queues.vector].join(','),
    '--concurrency', '1', '--pool', 'solo', '-l', 'info', '-n', nodeName, ...WORKER_ARGS,
  ], {
    cwd: resolve(DEMO_DIR),
    env: demoEnv(brokerUrl, queues, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (!/ ready\.\s*$/m.test(output)) {
    if (child.exitCode !== null) throw new Error(`Celery worker exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      await stop(0);
      throw new Error(`Celery worker not ready within ${readyTimeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { nodeName, log: () => output, stop };
}
