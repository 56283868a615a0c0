import { FRAME_HEADER, FRAME_HEADER_SIZE, FRAME_OVERHEAD } from '../../amqp/constants';
import { ContentHeader, parseContentHeader, replaceHeadersTable } from '../../amqp/contentHeader';
import { listTableEntries } from '../../amqp/fieldTable';
import { encodeFrame } from '../../amqp/frame';
import { Header } from '../attributes';
import { BoundedMap } from '../boundedMap';
import { ByteBudget, ENTRY_OVERHEAD } from '../byteBudget';
import type { InflightTotals } from '../inflight';

/**
 * Bytes of copies kept per channel, whatever --inflight-capacity allows: headers can be large
 * (up to frame_max each), and a channel publishing mandatory messages without confirms gives
 * no sign that its copies are no longer needed.
 */
export const MAX_RETURNABLE_BYTES = 4 * 1024 * 1024;

/** The headers the proxy adds or removes on a publish: whatever else a table holds is the client's. */
const PROXY_HEADERS = [Header.traceparent, Header.tracestate, Header.publishedAt];

interface Copy {
  /** Publish sequence number on a confirm channel, 0 otherwise. */
  readonly tag: number;
  /** The content header payload as the client sent it. */
  readonly original: Buffer;
  /** The content header payload as the proxy forwarded it. */
  readonly forwarded: Buffer;
  /** What the proxy's edit added and removed, as whole table entries; worked out when first needed. */
  edit?: { added: Buffer[]; removed: Buffer[]; hadHeaders: boolean };
}

/**
 * A mandatory publish that no queue takes comes back to its publisher as basic.return with
 * the message as the broker received it: with the proxy's traceparent and publish stamp.
 * So that the publisher gets back exactly what it sent, one channel's mandatory publishes
 * that the proxy rewrote are kept here, both versions of the content header, until the
 * broker has dealt with them:
 *
 *  - RabbitMQ routes a channel's publishes in order and sends basic.return while routing,
 *    so a return for one publish means that the ones before it were routed;
 *  - on a confirm channel the return comes before the publish's basic.ack, and an ack or
 *    nack for tag N comes after every publish up to N was routed.
 *
 * A returned header equal, byte for byte, to one the proxy forwarded is replaced by the
 * client's (RabbitMQ 3.x returns the bytes it received). A broker that re-encodes the headers
 * table (RabbitMQ 4.0 returns its entries sorted by name) gets the edit undone instead, on
 * the returned bytes: the entries the proxy added, recognised byte for byte, are taken out,
 * the ones it removed are put back (in name order when the returned table is in name order,
 * else at its end), and a table the proxy inserted goes again when nothing else is in it.
 * Anything else (a copy no longer kept, bytes that do not parse) goes to the client as it
 * came: fail open, as the rest of the scanner.
 */
export class ReturnableCopies {
  private readonly copies: BoundedMap<number, Copy>;
  private nextSeq = 0;

  /**
   * `budget`: this channel's (MAX_RETURNABLE_BYTES), drawing on its connection's. A copy that
   * cannot get its bytes even after the older ones went is not kept, and counted.
   */
  constructor(capacity: number, private readonly totals: InflightTotals, budget = new ByteBudget(MAX_RETURNABLE_BYTES)) {
    this.copies = new BoundedMap(capacity, (_seq, evicted) => this.evicted(evicted), {
      budget, sizeOf: (_seq, copy) => ENTRY_OVERHEAD + copy.original.length + copy.forwarded.length,
    });
  }

  get size(): number {
    return this.copies.size;
  }

  /** `original` is the client's content header payload; `forwardedFrame` the frame sent instead. */
  remember(tag: number, original: Buffer, forwardedFrame: Buffer): void {
    // One allocation outside the pool: the payloads may be views of a socket chunk or of a
    // pooled slab, which a long-lived reference would keep alive.
    const forwardedLength = forwardedFrame.length - FRAME_OVERHEAD;
    const both = Buffer.allocUnsafeSlow(original.length + forwardedLength);
    original.copy(both, 0);
    forwardedFrame.copy(both, original.length, FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + forwardedLength);
    const copy = { tag, original: both.subarray(0, original.length), forwarded: both.subarray(original.length) };
    if (this.copies.set(this.nextSeq++, copy)) this.totals.add('return', 1);
    else this.totals.metrics.inflightEvicted('return');
  }

  /**
   * The client's own content header frame for a returned header the proxy forwarded, or
   * undefined to pass the returned one on unchanged. Copies older than the match are dropped:
   * their publishes were routed.
   */
  restore(channel: number, returned: Buffer, header?: ContentHeader): Buffer | undefined {
    let match: Copy | undefined;
    let payload: Buffer | undefined;
    for (const [, copy] of this.copies.entries()) {
      if (copy.forwarded.equals(returned)) {
        match = copy;
        payload = copy.original;
        break;
      }
    }
    // Read once for all the copies tried (`header`: the adapter's reading of it, when it made one).
    const read = match === undefined ? readReturned(returned, header) : undefined;
    if (read !== undefined) {
      for (const [, copy] of this.copies.entries()) {
        payload = undoEdit(copy, returned, read);
        if (payload !== undefined) {
          match = copy;
          break;
        }
      }
    }
    if (match === undefined || payload === undefined) return undefined;
    this.dropWhile((copy) => copy !== match, true);
    return encodeFrame(FRAME_HEADER, channel, payload);
  }

  /** A confirm (ack or nack) for `tag`: every publish up to it has been routed or returned. */
  settle(tag: number): void {
    this.dropWhile((copy) => copy.tag <= tag, false);
  }

  clear(): void {
    this.totals.add('return', -this.copies.size);
    this.copies.clear();
  }

  private evicted(copy: Copy): void {
    this.totals.add('return', -1);
    // Without confirms nothing says a publish was routed, so the oldest copies are dropped
    // as a matter of course; with confirms, one dropped before its ack may still be returned.
    if (copy.tag > 0) this.totals.metrics.inflightEvicted('return');
  }

  /** Drops copies from the oldest while `older` holds, and the first one after them when `andNext`. */
  private dropWhile(older: (copy: Copy) => boolean, andNext: boolean): void {
    let dropped = 0;
    for (const [seq, copy] of this.copies.entries()) {
      const isOlder = older(copy);
      if (!isOlder && !andNext) break;
      this.copies.delete(seq);
      dropped++;
      if (!isOlder) break;
    }
    this.totals.add('return', -dropped);
  }
}

/** A returned header as read once: its layout and its table's whole entries. */
interface ReturnedHeader {
  readonly header: ContentHeader;
  readonly entries: readonly Buffer[];
}

/** Undefined when the returned bytes do not read (the return then goes to the client as it came). */
function readReturned(returned: Buffer, header: ContentHeader | undefined): ReturnedHeader | undefined {
  try {
    const read = header ?? parseContentHeader(returned);
    return { header: read, entries: entriesOf(returned, read) };
  } catch {
    return undefined;
  }
}

/** The whole entries of `payload`'s headers table, optionally only those named in `names`. */
function entriesOf(payload: Buffer, header: ContentHeader = parseContentHeader(payload), names?: readonly string[]): Buffer[] {
  if (header.headersOffset === undefined) return [];
  return listTableEntries(payload, header.headersOffset)
    .filter((e) => names === undefined || names.includes(payload.toString('latin1', e.start + 1, e.nameEnd)))
    .map((e) => payload.subarray(e.start, e.end));
}

function editOf(copy: Copy): NonNullable<Copy['edit']> {
  if (copy.edit === undefined) {
    const before = entriesOf(copy.original, undefined, PROXY_HEADERS);
    const after = entriesOf(copy.forwarded, undefined, PROXY_HEADERS);
    copy.edit = {
      added: after.filter((entry) => !before.some((b) => b.equals(entry))),
      removed: before.filter((entry) => !after.some((a) => a.equals(entry))),
      hadHeaders: parseContentHeader(copy.original).headersOffset !== undefined,
    };
  }
  return copy.edit;
}

/** An entry's name bytes (after its length octet), for name order. */
function nameOf(entry: Buffer): Buffer {
  return entry.subarray(1, 1 + entry[0]!);
}

/** `returned` with `copy`'s edit undone, or undefined when it does not carry every entry that edit added. */
function undoEdit(copy: Copy, returned: Buffer, read: ReturnedHeader): Buffer | undefined {
  try {
    const { added, removed, hadHeaders } = editOf(copy);
    if (added.length === 0) return undefined;
    const entries = [...read.entries];
    for (const entry of added) {
      const at = entries.findIndex((e) => e.equals(entry));
      if (at < 0) return undefined;
      entries.splice(at, 1);
    }
    const sorted = entries.every((e, i) => i === 0 || Buffer.compare(nameOf(entries[i - 1]!), nameOf(e)) <= 0);
    for (const entry of removed) {
      const at = sorted ? entries.findIndex((e) => Buffer.compare(nameOf(e), nameOf(entry)) > 0) : -1;
      entries.splice(at < 0 ? entries.length : at, 0, entry);
    }
    return replaceHeadersTable(returned, read.header, !hadHeaders && entries.length === 0 ? undefined : entries);
  } catch {
    return undefined;
  }
}
