/**
 * Builds a Celery task message, message protocol 2 (Celery >= 4), for amqplib.
 *
 * Protocol 2 puts the task's metadata in the AMQP *application headers*, and Celery's
 * worker copies every application header onto `task.request`. So a `traceparent` header
 * added here, or by the proxy, shows up as `task.request.traceparent` in the worker.
 *
 *   properties  correlation_id = task id, content_type application/json,
 *               content_encoding utf-8, delivery_mode 2, priority 0, reply_to (rpc:// results)
 *   headers     lang task id shadow eta expires group group_index retries timelimit
 *               root_id parent_id argsrepr kwargsrepr origin ignore_result
 *   body        JSON [args, kwargs, {callbacks, errbacks, chain, chord}]
 *
 * The header set and property values were checked against what Celery 5.2.6
 * `send_task`/`apply_async` publishes (test/integration/celery-direct.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Options } from 'amqplib';

export interface CeleryTaskOptions {
  /** Task id; also the message's correlation_id. Default: a random UUID. */
  id?: string;
  /** Id of the first task of the workflow. Default: the task's own id. */
  rootId?: string;
  /** Id of the task that sent this one; null for a task sent from outside a worker. */
  parentId?: string | null;
  group?: string | null;
  /** Queue for the result when the app uses the rpc:// result backend. */
  replyTo?: string;
  retries?: number;
  /** ISO 8601 times, as Celery sends them. */
  eta?: string | null;
  expires?: string | null;
  origin?: string;
  ignoreResult?: boolean;
  /** Extra application headers, e.g. W3C `traceparent`/`tracestate`. */
  headers?: Record<string, string>;
}

export interface CeleryMessage {
  taskId: string;
  content: Buffer;
  options: Options.Publish & { headers: Record<string, unknown> };
}

export function buildCeleryTask(
  task: string,
  args: readonly unknown[] = [],
  kwargs: Readonly<Record<string, unknown>> = {},
  opts: CeleryTaskOptions = {},
): CeleryMessage {
  const id = opts.id ?? randomUUID();
  const headers: Record<string, unknown> = {
    lang: 'py',
    task,
    id,
    shadow: null,
    eta: opts.eta ?? null,
    expires: opts.expires ?? null,
    group: opts.group ?? null,
    group_index: null,
    retries: opts.retries ?? 0,
    timelimit: [null, null],
    root_id: opts.rootId ?? id,
    parent_id: opts.parentId ?? null,
    argsrepr: pythonRepr(args),
    kwargsrepr: pythonRepr(kwargs),
    origin: opts.origin ?? `${process.pid}@${hostname()}`,
    ignore_result: opts.ignoreResult ?? false,
    ...opts.headers,
  };
  const body = [args, kwargs, { callbacks: null, errbacks: null, chain: null, chord: null }];
  return {
    taskId: id,
    content: Buffer.from(JSON.stringify(body), 'utf8'),
    options: {
      headers,
      correlationId: id,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      deliveryMode: 2,
      priority: 0,
      ...(opts.replyTo ? { replyTo: opts.replyTo } : {}),
    },
  };
}

/**
 * Python's repr() of JSON-like values, for the informational `argsrepr`/`kwargsrepr`
 * headers that Celery shows in logs and monitoring tools.
 */
export function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : value > 0 ? 'inf' : value < 0 ? '-inf' : 'nan';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`).join(', ')}}`;
  }
  return pythonRepr(String(value));
}
