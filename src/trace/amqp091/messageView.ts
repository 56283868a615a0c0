import { FRAME_HEADER_SIZE } from '../../amqp/constants';
import { ContentHeader, contentHeaderOn, hasProperty, parseContentHeader, readShortStrProperty, spliceHeadersFrame } from '../../amqp/contentHeader';
import type { HeaderEdit, MessageInFlight, MessageView } from '../lifecycle';
import { TraceHeaders } from './traceHeaders';

/**
 * A 0-9-1 message as the tracing core sees it (lifecycle.ts): its content header frame's
 * payload (spec 4.2.6.1), read once. parseContentHeader locates the properties and the
 * headers table, TraceHeaders the trace headers in one walk of it; properties are decoded
 * on first read and remembered, so a `reply_to` read for the queue kinds and again for the
 * continuation is decoded once.
 */

let headerReads = 0;

/** Content headers the adapter has read, process-wide: a test and bench/hotpath.ts compare it with the messages that passed. */
export function contentHeaderReads(): number {
  return headerReads;
}

function readHeader(payload: Buffer): ContentHeader {
  headerReads++;
  return parseContentHeader(payload);
}

/**
 * A record's own copy of bytes it keeps. The originals are views of socket reads (which
 * also hold message bodies) or of the frame just forwarded; a long-lived view would keep
 * all of that alive for as long as the message is in flight.
 */
function ownCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  return copy;
}

/** Not read yet (undefined is a property's "absent"). */
const UNREAD = null;

/**
 * A copy of the header the proxy wrote, kept by a publish's record: the proxy's own bytes,
 * read only if the message is kept or a return has to be matched to it.
 */
class ForwardedCopy implements MessageView {
  private view: MessageFrame | undefined;

  constructor(private readonly payload: Buffer) {}

  private get read(): MessageFrame {
    this.view ??= new MessageFrame(0, this.payload, 0);
    return this.view;
  }

  get headers(): TraceHeaders { return this.read.headers; }
  get bodySize(): number { return this.read.bodySize; }
  get byteLength(): number { return this.payload.length; }
  get hasReplyTo(): boolean { return this.read.hasReplyTo; }
  get replyTo(): string | undefined { return this.read.replyTo; }
  get correlationId(): string | undefined { return this.read.correlationId; }
  get messageId(): string | undefined { return this.read.messageId; }
}

/**
 * A content header on its way through the proxy. The one change it allows is the headers
 * splice (spliceHeadersFrame): a new frame with the edited table, everything else copied as
 * it came; the frame must still fit the negotiated frame_max (0 = no limit). One class, no
 * base class: a derived class's construction goes through V8's generic construct stub, which
 * callgrind showed at about 300 instructions per message.
 */
export class MessageFrame implements MessageInFlight {
  readonly headers: TraceHeaders;
  /** The whole frame to forward instead of the original, once rewritten. */
  rewritten: Buffer | undefined = undefined;
  private readonly header: ContentHeader;
  private replyToText: string | undefined | null = UNREAD;
  private correlationIdText: string | undefined | null = UNREAD;
  private messageIdText: string | undefined | null = UNREAD;

  /**
   * `onRewrite`: told of a rewrite that will be forwarded (a mandatory publish keeps both
   * versions). `read`: the header and trace headers already located over these very bytes
   * (a retained copy), so they are not read again.
   */
  constructor(
    private readonly channel: number, private readonly payload: Buffer, private readonly frameMax: number,
    private readonly onRewrite?: (original: Buffer, frame: Buffer) => void,
    read?: { readonly header: ContentHeader; readonly headers: TraceHeaders },
  ) {
    this.header = read?.header ?? readHeader(payload);
    this.headers = read?.headers ?? new TraceHeaders(payload, this.header.headersOffset);
  }

  get bodySize(): number {
    return this.header.bodySize;
  }

  get byteLength(): number {
    return this.payload.length;
  }

  get hasReplyTo(): boolean {
    return hasProperty(this.header, 'replyTo');
  }

  get replyTo(): string | undefined {
    if (this.replyToText === UNREAD) this.replyToText = readShortStrProperty(this.payload, this.header, 'replyTo');
    return this.replyToText;
  }

  get correlationId(): string | undefined {
    if (this.correlationIdText === UNREAD) this.correlationIdText = readShortStrProperty(this.payload, this.header, 'correlationId');
    return this.correlationIdText;
  }

  get messageId(): string | undefined {
    if (this.messageIdText === UNREAD) this.messageIdText = readShortStrProperty(this.payload, this.header, 'messageId');
    return this.messageIdText;
  }

  /** The parse of this header, for the adapter's own byte work on it (undoing a rewrite on return). */
  get contentHeader(): ContentHeader {
    return this.header;
  }

  rewrite(edit: HeaderEdit): boolean {
    const frame = spliceHeadersFrame(this.channel, this.payload, this.header, edit);
    if (this.frameMax !== 0 && frame.length > this.frameMax) return false;
    this.rewritten = frame;
    this.onRewrite?.(this.payload, frame);
    return true;
  }

  retain(maxBytes: number): MessageView | undefined {
    if (this.rewritten !== undefined) {
      const forwarded = this.rewritten.subarray(FRAME_HEADER_SIZE, this.rewritten.length - 1);
      return forwarded.length > maxBytes ? undefined : new ForwardedCopy(ownCopy(forwarded));
    }
    if (this.payload.length > maxBytes) return undefined;
    // The same bytes: the copy is read where this one was, without a second parse.
    const copy = ownCopy(this.payload);
    return new MessageFrame(0, copy, 0, undefined, { header: contentHeaderOn(this.header, copy), headers: this.headers.on(copy) });
  }
}
