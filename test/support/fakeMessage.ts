/**
 * A message as the tracing core sees it (src/trace/lifecycle.ts), with no protocol under it:
 * headers and properties as plain strings. Tests of the core drive its events with these, the
 * way a second protocol adapter would, and read back what a rewrite wrote.
 */
import { NO_HISTORY, REDELIVERED } from '../../src/trace/deliveryHistory';
import type { AsciiBytes, HeaderEdit, MessageInFlight, MessageView, TraceHeaderView } from '../../src/trace/lifecycle';
import { parseTraceParent } from '../../src/trace/traceparent';

export interface FakeMessageFields {
  headers?: Record<string, string>;
  messageId?: string;
  correlationId?: string;
  replyTo?: string;
  bodySize?: number;
}

const text = (value: string | AsciiBytes): string => {
  if (typeof value === 'string') return value;
  const bytes = Buffer.alloc(value.byteLength);
  value.writeTo(bytes, 0);
  return bytes.toString('latin1');
};

function headerView(headers: Readonly<Record<string, string>>): TraceHeaderView {
  const context = headers.traceparent === undefined ? undefined : parseTraceParent(headers.traceparent);
  const stamp = headers['x-trace-proxy-published-us'];
  return {
    has: (name) => name in headers,
    traceFlags: context?.traceFlags ?? -1,
    traceContext: context,
    tracestate: headers.tracestate,
    taskId: headers.id,
    taskName: headers.task,
    parentTaskId: headers.parent_id,
    publishedAtMicros: stamp !== undefined && /^\d{1,17}$/.test(stamp) ? Number(stamp) : undefined,
    // Of a delivery's history only the redelivered flag: the history headers are test/unit/trace/attempts.test.ts's.
    history: (redelivered) => (redelivered ? REDELIVERED : NO_HISTORY),
  };
}

function view(fields: FakeMessageFields, headers: Record<string, string>): MessageView {
  return {
    headers: headerView(headers),
    bodySize: fields.bodySize ?? 2,
    byteLength: 64,
    hasReplyTo: fields.replyTo !== undefined,
    replyTo: fields.replyTo,
    correlationId: fields.correlationId,
    messageId: fields.messageId,
  };
}

export interface FakeMessage extends MessageInFlight {
  /** The headers as forwarded: after the rewrites the core asked for. */
  readonly forwarded: Record<string, string>;
  readonly rewrites: number;
}

/** `frameLimit`: a rewrite that would leave more than this many headers does not fit. */
export function fakeMessage(fields: FakeMessageFields = {}, frameLimit = Number.POSITIVE_INFINITY): FakeMessage {
  let headers: Record<string, string> = { ...fields.headers };
  let current = view(fields, headers);
  let rewrites = 0;
  return {
    get headers() { return current.headers; },
    get bodySize() { return current.bodySize; },
    get byteLength() { return current.byteLength; },
    get hasReplyTo() { return current.hasReplyTo; },
    get replyTo() { return current.replyTo; },
    get correlationId() { return current.correlationId; },
    get messageId() { return current.messageId; },
    get forwarded() { return headers; },
    get rewrites() { return rewrites; },
    rewrite(edit: HeaderEdit): boolean {
      const next = Object.fromEntries(Object.entries(headers).filter(([name]) => !edit.remove.includes(name)));
      for (const [name, value] of edit.add) next[name] = text(value);
      if (Object.keys(next).length > frameLimit) return false;
      rewrites++;
      headers = next;
      // The message as it now stands: what a record of it keeps.
      current = view(fields, headers);
      return true;
    },
    retain: (maxBytes) => (current.byteLength > maxBytes ? undefined : view(fields, { ...headers })),
  };
}
