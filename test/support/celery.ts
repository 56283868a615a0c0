/**
 * Runs the demo's real Celery worker (demo/worker) as a child process for integration
 * tests, and reads what its probe (demo/worker/probe.py) recorded about each task.
 *
 * Celery comes from Debian (its packages are in scripts/host-deps.tsv) and runs
 * under /usr/bin/python3: the `python3` first on PATH may be another interpreter
 * without Celery. A missing Celery fails the test with that instruction; it never skips.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { installHint } from './hostDeps';

export const CELERY_PYTHON = '/usr/bin/python3';
export const DEMO_DIR = resolve(__dirname, '../../demo');
export const DIRECT_BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672//';

/** The demo app's three service queues. */
import { type DemoQueues, demoEnv } from '../../demo/celeryWorker';
import { sleep } from './wait';

export type { DemoQueues };
export { demoEnv };

/** One JSON line written by demo/worker/probe.py. */
export type ProbeRecord = PrerunRecord | PostrunRecord;
export interface PrerunRecord {
  event: 'prerun';
  task: string;
  id: string;
  parent_id: string | null;
  root_id: string | null;
  traceparent: string | null;
  tracestate: string | null;
  /** `task.request.headers`, as Celery exposes it. */
  headers: Record<string, unknown> | null;
  correlation_id: string | null;
  reply_to: string | null;
  delivery_info: { exchange: string; routing_key: string; priority: number | null; redelivered: boolean };
  properties: Record<string, unknown> & { application_headers?: Record<string, unknown> };
  /** Every attribute name on `task.request`. */
  request_keys: string[];
}
export interface PostrunRecord { event: 'postrun'; task: string; id: string; state: string }

let celeryChecked: string | undefined;

/** Celery's version under /usr/bin/python3; throws with the install command when absent. */
export function requireCelery(): string {
  if (celeryChecked) return celeryChecked;
  const hint = `Celery is required for this test: ${installHint('python3:celery')} ` +
    `(the tests use ${CELERY_PYTHON}, not the python3 on PATH)`;
  if (!existsSync(CELERY_PYTHON)) throw new Error(`${CELERY_PYTHON} not found. ${hint}`);
  try {
    celeryChecked = execFileSync(CELERY_PYTHON, ['-c', 'import celery, kombu, amqp; print(celery.__version__)'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (err) {
    throw new Error(`${CELERY_PYTHON} cannot import celery/kombu/amqp. ${hint}\n${(err as { stderr?: string }).stderr ?? ''}`);
  }
  return celeryChecked;
}

/**
 * Exchanges Celery publishes to on its own: worker events on a timer (`celeryev`), and
 * control broadcasts with their replies (`celery.pidbox`, `reply.celery.pidbox`), which any
 * worker starting with mingle anywhere on the shared broker sends to every worker. Whether
 * a test sees them is timing and other people's traffic; their span names are fixed.
 */
export const CELERY_OWN_EXCHANGES: readonly string[] = ['celeryev', 'celery.pidbox', 'reply.celery.pidbox'];

/** Whether a proxy span name (`{operation} {destination}`) is one of Celery's own traffic. */
export function isCeleryOwnSpanName(name: string): boolean {
  const destination = name.slice(name.indexOf(' ') + 1);
  return CELERY_OWN_EXCHANGES.includes(destination.split(':')[0]!);
}

/** Queue names unique to one test, so tests never share Celery queues. */
export function uniqueQueues(prefix = 'celery-test'): DemoQueues {
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  return { llm: `${prefix}-llm-${suffix}`, whisper: `${prefix}-whisper-${suffix}`, vector: `${prefix}-vector-${suffix}` };
}


export interface CeleryWorker {
  readonly nodeName: string;
  readonly probeFile: string;
  readonly queues: DemoQueues;
  readonly pid: number;
  /** Everything the worker has logged so far (Celery logs to stderr). */
  log(): string;
  probe(): ProbeRecord[];
  /** Resolves when `pred` holds for the probe records; rejects after `timeoutMs` with the records and log tail. */
  waitForProbe(pred: (records: ProbeRecord[]) => boolean, timeoutMs?: number): Promise<ProbeRecord[]>;
  /** SIGTERM (Celery's warm shutdown), SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL now: the broker sees the connection drop, as when a worker host dies. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartWorkerOptions {
  brokerUrl: string;
  queues: DemoQueues;
  /** Extra environment, e.g. DEMO_ACKS_LATE. */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Extra `celery worker` arguments. */
  args?: string[];
}

const READY_LINE = / ready\.\s*$/m;

export async function startCeleryWorker(opts: StartWorkerOptions): Promise<CeleryWorker> {
  requireCelery();
  const id = randomBytes(4).toString('hex');
  const nodeName = `demo-${id}@localhost`;
  const probeFile = join(tmpdir(), `celery-probe-${process.pid}-${id}.jsonl`);
  const { llm, whisper, vector } = opts.queues;
  const child = spawn(CELERY_PYTHON, [
    '-m', 'celery', '-A', 'worker.app', 'worker',
    '-Q', [llm, whisper, vector].join(','),
    '--concurrency', '1', '--pool', 'solo', '-l', 'info',
    '-n', nodeName, '--include', 'worker.probe',
    ...(opts.args ?? []),
  ], {
    cwd: DEMO_DIR,
    env: demoEnv(opts.brokerUrl, opts.queues, { TRACE_PROBE_FILE: probeFile, ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }));
  });

  await waitForReady(child, () => output, exited, opts.readyTimeoutMs ?? 30_000);

  const probe = (): ProbeRecord[] => readProbeFile(probeFile);
  return {
    nodeName,
    probeFile,
    queues: opts.queues,
    pid: child.pid!,
    log: () => output,
    probe,
    waitForProbe: async (pred, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const records = probe();
        if (pred(records)) return records;
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`Celery probe condition not met within ${timeoutMs} ms (worker ${child.exitCode === null ? 'running' : `exited ${child.exitCode}`}).\n` +
            `probe records:\n${records.map((r) => JSON.stringify(r)).join('\n') || '(none)'}\nworker log tail:\n${tail(output)}`);
        }
        await sleep(50);
      }
    },
    stop: async (graceMs = 10_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        rmSync(probeFile, { force: true });
        return result;
      }
      rmSync(probeFile, { force: true });
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      const result = await exited;
      rmSync(probeFile, { force: true });
      return result;
    },
  };
}

async function waitForReady(
  child: ChildProcess,
  output: () => string,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((done) => {
        poll = setInterval(() => { if (READY_LINE.test(output())) done(); }, 50);
      }),
      exited.then(({ code, signal }) => {
        throw new Error(`Celery worker exited before it was ready (code ${code}, signal ${signal}).\n${tail(output())}`);
      }),
      new Promise<never>((_, fail) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          fail(new Error(`Celery worker not ready within ${timeoutMs} ms.\n${tail(output())}`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
  }
}

/**
 * Runs a Python snippet with the demo app importable (`from worker.app import app`) and
 * the same environment a worker gets; resolves with its output, rejects on a non-zero exit.
 */
export function runCeleryPython(code: string, brokerUrl: string, queues: DemoQueues, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<string> {
  requireCelery();
  return new Promise((done, fail) => {
    const child = spawn(CELERY_PYTHON, ['-c', code], { cwd: DEMO_DIR, env: demoEnv(brokerUrl, queues, env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (exitCode, signal) => {
      clearTimeout(timer);
      if (exitCode === 0) done(stdout);
      else fail(new Error(`python exited with ${exitCode ?? signal}:\n${stderr}\n${stdout}`));
    });
  });
}

function readProbeFile(path: string): ProbeRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ProbeRecord);
}

export function prerunOf(records: ProbeRecord[], taskId: string): PrerunRecord | undefined {
  return records.find((r): r is PrerunRecord => r.event === 'prerun' && r.id === taskId);
}

const tail = (s: string, lines = 40): string => s.split('\n').slice(-lines).join('\n');
