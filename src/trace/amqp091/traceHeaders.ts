import { ABSENT, NameSet, isLongStrValue, locateStringValues } from '../../amqp/fieldTable';
import { NO_VALUE } from '../../amqp/fieldValues';
import { Header } from '../attributes';
import { NO_HISTORY, REDELIVERED, type DeliveryHistory } from '../deliveryHistory';
import type { TraceHeaderView } from '../lifecycle';
import { TraceParent, traceParentFlagsAt } from '../traceparent';
import { HISTORY_HEADERS, locateHistoryHeaders, readDeliveryHistory } from './historyHeaders';

/** The headers the proxy reads on every message, in the order of their slots below; frozen, so encoded once. */
const NAMES: readonly string[] = Object.freeze([
  Header.traceparent, Header.tracestate, Header.publishedAt, Header.celeryParentId, Header.celeryTaskId, Header.celeryTask,
]);
/**
 * The delivery-history headers (historyHeaders.ts): the same walk only notes whether one is
 * there (a name of another length costs one array read), and they are located by a second
 * walk only then. A plain message pays for them next to nothing (docs/PERFORMANCE.md, issue 23).
 */
const HISTORY = new NameSet(HISTORY_HEADERS);
const TRACEPARENT = 0;
const TRACESTATE = 1;
const PUBLISHED_AT = 2;
const PARENT_TASK_ID = 3;
const TASK_ID = 4;
const TASK_NAME = 5;
/** The longest stamp trusted: 17 digits (µs since the epoch needs 16 until the year 2286). */
const MAX_STAMP_DIGITS = 17;

let historyWalks = 0;

/** Second walks for the history headers, process-wide: a test and bench/hotpath.ts hold plain messages at none. */
export function historyHeaderWalks(): number {
  return historyWalks;
}

/**
 * The trace headers of one message, located in one walk of its headers table. Values stay
 * bytes until read: for most messages the proxy needs only a traceparent's validity and
 * flags and the stamp's number, both read straight from the bytes; strings are decoded
 * when a span records or continuation remembers something.
 *
 * Reads the payload it was given, so it must not outlive the hook call that made it.
 */
export class TraceHeaders implements TraceHeaderView {
  // A literal: a packed array of small integers, two slots per name.
  private readonly at = [ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT];
  /** The table has at least one of the history headers (not located yet). */
  private readonly historyNamed: boolean;

  /**
   * `tableOffset`: the headers table's length field, undefined when the message has none.
   * `located`: the same headers over other bytes equal to these, whose walk is taken as it is.
   */
  constructor(private readonly payload: Buffer, private readonly tableOffset: number | undefined, located?: TraceHeaders) {
    if (located !== undefined) {
      for (let i = 0; i < this.at.length; i++) this.at[i] = located.at[i]!;
      this.historyNamed = located.historyNamed;
    } else {
      this.historyNamed = tableOffset !== undefined && locateStringValues(payload, tableOffset, NAMES, this.at, HISTORY);
    }
  }

  /** The same headers over `copy`, a byte-for-byte copy of the payload, without walking the table again. */
  on(copy: Buffer): TraceHeaders {
    return new TraceHeaders(copy, this.tableOffset, this);
  }

  /**
   * What the message says of earlier attempts; NO_HISTORY (or REDELIVERED) without reading
   * anything when it carries none of the headers. A header whose value runs past its
   * container is ignored: the message is traced without its history.
   */
  history(redelivered: boolean): DeliveryHistory {
    if (!this.historyNamed) return redelivered ? REDELIVERED : NO_HISTORY;
    try {
      return readDeliveryHistory(this.payload, this.historyTags(), redelivered);
    } catch {
      return redelivered ? REDELIVERED : NO_HISTORY;
    }
  }

  /** Whether the table has an entry of this name (one of Header's), of any type. */
  has(name: string): boolean {
    const slot = NAMES.indexOf(name);
    if (slot >= 0) return this.at[2 * slot] !== ABSENT;
    const other = HISTORY_HEADERS.indexOf(name);
    return other >= 0 && this.historyNamed && this.historyTags()[other] !== NO_VALUE;
  }

  /** The tag offsets of the history headers (the second walk, for a table that has one). */
  private historyTags(): number[] {
    historyWalks++;
    return locateHistoryHeaders(this.payload, this.tableOffset!);
  }

  /** The traceparent as text; '' when the entry is not a string (so it parses as invalid). */
  get traceparent(): string | undefined {
    return this.at[2 * TRACEPARENT] !== ABSENT ? this.text(TRACEPARENT) ?? '' : undefined;
  }

  /**
   * The flags of a valid traceparent (W3C rules, see traceParentFlagsAt), or -1 when absent or
   * invalid. Only a longstr is valid: a traceparent of type `x` (bytes) is invalid, like one
   * of any other type, since consumers' propagators read a string and find none there.
   */
  get traceFlags(): number {
    const start = this.at[2 * TRACEPARENT]!;
    if (start < 0 || !isLongStrValue(this.payload, start)) return -1;
    return traceParentFlagsAt(this.payload, start, this.at[2 * TRACEPARENT + 1]!);
  }

  /** A valid traceparent's fields, read from the bytes; undefined when absent or invalid. */
  get traceContext(): TraceParent | undefined {
    const traceFlags = this.traceFlags;
    if (traceFlags < 0) return undefined;
    const start = this.at[2 * TRACEPARENT]!;
    // Valid means ASCII: latin1 decodes it as it is.
    return {
      traceId: this.payload.toString('latin1', start + 3, start + 35),
      spanId: this.payload.toString('latin1', start + 36, start + 52),
      traceFlags,
    };
  }

  get tracestate(): string | undefined {
    return this.text(TRACESTATE);
  }

  get taskId(): string | undefined {
    return this.text(TASK_ID);
  }

  get taskName(): string | undefined {
    return this.text(TASK_NAME);
  }

  get parentTaskId(): string | undefined {
    return this.text(PARENT_TASK_ID);
  }

  /** The proxy's publish stamp in µs: 1 to 17 ASCII digits, else undefined. */
  get publishedAtMicros(): number | undefined {
    const start = this.at[2 * PUBLISHED_AT]!;
    const end = this.at[2 * PUBLISHED_AT + 1]!;
    if (start < 0 || end === start || end - start > MAX_STAMP_DIGITS) return undefined;
    let value = 0;
    for (let i = start; i < end; i++) {
      const digit = this.payload[i]! - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      value = value * 10 + digit;
    }
    return value;
  }

  private text(slot: number): string | undefined {
    const start = this.at[2 * slot]!;
    return start < 0 ? undefined : this.payload.toString('utf8', start, this.at[2 * slot + 1]!);
  }
}
