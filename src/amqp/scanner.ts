import { ChannelState, IDLE, afterBody, afterHeader, afterMethod } from './channelState';
import { AWAITING_TUNE, FrameLimits, frameLimits } from './handshake';
import {
  FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEADER_SIZE, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD,
  PROTOCOL_HEADER, PROTOCOL_HEADER_SIZE, describeProtocolHeader,
} from './constants';

export const FAIL_OPEN_REASONS = ['unknown_protocol', 'bad_frame_type', 'bad_frame_end', 'oversized_frame', 'decode_error'] as const;
export type FailOpenReason = (typeof FAIL_OPEN_REASONS)[number];

export interface ScannerHooks {
  /** Method keys whose complete frames are handed to onMethod; every other method streams through. */
  readonly inspect: ReadonlySet<number>;
  onMethod(channel: number, key: number, payload: Buffer): void;
  /**
   * The content header that follows `method` on `channel`. Returns a whole replacement
   * frame (type, channel, size, payload, frame-end: see spliceHeadersFrame), or undefined
   * to forward the original bytes. May throw for bytes it cannot read: the original frame is
   * then forwarded and the scanner goes on (onUnreadFrame).
   */
  onContentHeader(channel: number, method: number, payload: Buffer): Buffer | undefined;
}

export type FailOpenListener = (reason: FailOpenReason, detail: string) => void;
/**
 * A complete frame a hook could not read (a field-table tag of unknown size, a field running
 * past its frame): it was forwarded untouched and scanning goes on at the next frame.
 * `method` is the frame's method key, or for a content header the key of its method.
 */
export type UnreadFrameListener = (method: number, err: unknown) => void;

/** Bytes needed from a frame's start before the scanner can act on it. */
const METHOD_ID_BYTES = FRAME_HEADER_SIZE + 4;
/** Until told otherwise (setLimits), what a connection that has not been tuned may send. */
const HANDSHAKE_LIMITS = frameLimits(AWAITING_TUNE, 0);

/**
 * Finds frame boundaries in one direction of a connection and forwards the original bytes
 * as slices of the chunks it was given. Only inspected method frames and the content
 * headers that follow a content method are held until complete, and only up to the hold
 * limit; everything else streams, including body frames of any size.
 *
 * Lost frame boundaries switch it to opaque pass-through for good (fail open): the bytes
 * that follow are forwarded exactly as they arrived. A complete frame whose contents a hook
 * cannot read is only that frame forwarded as it came (onUnreadFrame).
 */
export class FrameScanner {
  /** Frames whose head has been read; the proxy turns deltas into metrics. */
  frames = 0;
  /** Largest frame accepted, and largest held whole, before failing open (see FrameLimits). */
  private limits: FrameLimits = HANDSHAKE_LIMITS;

  private phase: 'protocol' | 'frames' | 'opaque' | 'stopped';
  private stopRequested = false;
  private held: Buffer[] = [];
  private heldLength = 0;
  /** Bytes from the start of the held data needed before scanning can continue. */
  private need = 0;
  private skip = 0;
  private endPending = false;
  /**
   * By channel number: an array, since channels are small integers counted up from 1 (a
   * Map's hashing cost more, at two lookups per frame).
   */
  private channels: (ChannelState | undefined)[] = [];

  constructor(
    private readonly hooks: ScannerHooks,
    expectProtocolHeader: boolean,
    private readonly onFailOpen: FailOpenListener,
    private readonly onUnreadFrame: UnreadFrameListener = () => undefined,
  ) {
    this.phase = expectProtocolHeader ? 'protocol' : 'frames';
  }

  get opaque(): boolean {
    return this.phase === 'opaque';
  }

  /** True once forwarding has stopped at a frame boundary (see stopAtBoundary). */
  get stopped(): boolean {
    return this.phase === 'stopped';
  }

  /**
   * Forwards up to the end of the frame in progress, then nothing more: the proxy may then
   * write a frame of its own (connection.close when draining) without cutting one in two.
   * Returns false when frame boundaries are unknown (opaque), where that is impossible.
   */
  stopAtBoundary(): boolean {
    if (this.phase === 'opaque') return false;
    if (this.phase === 'protocol' || (this.skip === 0 && !this.endPending && this.heldLength === 0)) {
      this.phase = 'stopped';
      this.held = [];
      this.heldLength = 0;
    } else {
      this.stopRequested = true;
    }
    return true;
  }

  /** The limits of the connection's handshake state (src/amqp/handshake.ts); they apply from the next frame. */
  setLimits(limits: FrameLimits): void {
    this.limits = limits;
  }

  /** Switches to pass-through for good; returns held bytes that must still be forwarded. */
  failOpen(): Buffer | undefined {
    this.phase = 'opaque';
    const held = this.takeHeld();
    this.channels = [];
    return held;
  }

  /** Scans `chunk` and appends what must be written, in order, to `out`. */
  push(chunk: Buffer, out: Buffer[]): void {
    if (this.phase === 'opaque') {
      out.push(chunk);
      return;
    }
    if (this.phase === 'stopped') return;
    let rest = chunk;
    // Complete a held frame with just the bytes it lacks, so a partial frame costs a copy
    // of that frame, not of every chunk that follows it.
    while (this.heldLength > 0) {
      if (this.heldLength + rest.length < this.need) {
        this.held.push(rest);
        this.heldLength += rest.length;
        return;
      }
      const take = this.need - this.heldLength;
      this.held.push(rest.subarray(0, take));
      const buf = Buffer.concat(this.held, this.need);
      this.held = [];
      this.heldLength = 0;
      rest = rest.subarray(take);
      this.scan(buf, out);
      // scan() may have given up (fail open) or stopped at a boundary: the getters re-read phase.
      if (this.opaque) {
        if (rest.length > 0) out.push(rest);
        return;
      }
      if (this.stopped) return;
    }
    if (rest.length > 0) this.scan(rest, out);
  }

  private takeHeld(): Buffer | undefined {
    if (this.heldLength === 0) return undefined;
    const held = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldLength);
    this.held = [];
    this.heldLength = 0;
    return held;
  }

  private hold(buf: Buffer, flushFrom: number, pos: number, need: number, out: Buffer[]): void {
    if (pos > flushFrom) out.push(buf.subarray(flushFrom, pos));
    this.held.push(buf.subarray(pos));
    this.heldLength = buf.length - pos;
    this.need = need;
  }

  private giveUp(reason: FailOpenReason, detail: string, buf: Buffer, flushFrom: number, out: Buffer[]): void {
    this.phase = 'opaque';
    this.channels = [];
    if (flushFrom < buf.length) out.push(buf.subarray(flushFrom));
    this.onFailOpen(reason, detail);
  }

  private scan(buf: Buffer, out: Buffer[]): void {
    const len = buf.length;
    let pos = 0;
    let flushFrom = 0;
    while (pos < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - pos);
        pos += n;
        this.skip -= n;
        continue;
      }
      if (this.endPending) {
        if (buf[pos] !== FRAME_END) return this.giveUp('bad_frame_end', `byte ${buf[pos]}`, buf, flushFrom, out);
        this.endPending = false;
        pos++;
        continue;
      }
      if (this.phase === 'protocol') {
        if (len - pos < PROTOCOL_HEADER_SIZE) return this.hold(buf, flushFrom, pos, PROTOCOL_HEADER_SIZE, out);
        if (!buf.subarray(pos, pos + PROTOCOL_HEADER_SIZE).equals(PROTOCOL_HEADER)) {
          return this.giveUp('unknown_protocol', describeProtocolHeader(buf.subarray(pos, pos + PROTOCOL_HEADER_SIZE)), buf, flushFrom, out);
        }
        this.phase = 'frames';
        pos += PROTOCOL_HEADER_SIZE;
        continue;
      }
      if (this.stopRequested) {
        if (pos > flushFrom) out.push(buf.subarray(flushFrom, pos));
        this.phase = 'stopped';
        return;
      }
      if (len - pos < FRAME_HEADER_SIZE) return this.hold(buf, flushFrom, pos, FRAME_HEADER_SIZE, out);
      const type = buf[pos]!;
      const channel = buf.readUInt16BE(pos + 1);
      const size = buf.readUInt32BE(pos + 3);
      const whole = size + FRAME_OVERHEAD;
      if (whole > this.limits.frame) {
        return this.giveUp('oversized_frame', `${size} bytes, limit ${this.limits.frame}`, buf, flushFrom, out);
      }
      if (type === FRAME_METHOD) {
        if (size < 4) return this.giveUp('decode_error', 'method frame shorter than its ids', buf, flushFrom, out);
        if (len - pos < METHOD_ID_BYTES) return this.hold(buf, flushFrom, pos, METHOD_ID_BYTES, out);
        const key = buf.readUInt32BE(pos + FRAME_HEADER_SIZE);
        if (this.hooks.inspect.has(key)) {
          if (whole > this.limits.hold) return this.giveUp('oversized_frame', `method frame of ${size} bytes, hold limit ${this.limits.hold}`, buf, flushFrom, out);
          if (len - pos < whole) return this.hold(buf, flushFrom, pos, whole, out);
          if (buf[pos + whole - 1] !== FRAME_END) return this.giveUp('bad_frame_end', 'method frame', buf, flushFrom, out);
          this.frames++;
          this.setChannel(channel, afterMethod(key));
          try {
            this.hooks.onMethod(channel, key, buf.subarray(pos + FRAME_HEADER_SIZE, pos + whole - 1));
          } catch (err) {
            // Frame boundaries are still known: only this frame goes unread, as it came.
            this.onUnreadFrame(key, err);
          }
          pos += whole;
          continue;
        }
        this.setChannel(channel, afterMethod(key));
      } else if (type === FRAME_HEADER) {
        const state = this.channels[channel];
        if (state !== undefined && state.kind === 'awaitingHeader') {
          if (whole > this.limits.hold) return this.giveUp('oversized_frame', `content header of ${size} bytes, hold limit ${this.limits.hold}`, buf, flushFrom, out);
          if (len - pos < whole) return this.hold(buf, flushFrom, pos, whole, out);
          if (buf[pos + whole - 1] !== FRAME_END) return this.giveUp('bad_frame_end', 'content header', buf, flushFrom, out);
          if (size < 14) return this.giveUp('decode_error', 'content header too short', buf, flushFrom, out);
          this.frames++;
          const payload = buf.subarray(pos + FRAME_HEADER_SIZE, pos + whole - 1);
          // body-size: two 32-bit reads, exact to 2^53 (a BigInt per message cost more).
          this.setChannel(channel, afterHeader(state, payload.readUInt32BE(4) * 2 ** 32 + payload.readUInt32BE(8)));
          let replacement: Buffer | undefined;
          try {
            replacement = this.hooks.onContentHeader(channel, state.method, payload);
          } catch (err) {
            this.onUnreadFrame(state.method, err);
          }
          if (replacement !== undefined) {
            if (pos > flushFrom) out.push(buf.subarray(flushFrom, pos));
            out.push(replacement);
            flushFrom = pos + whole;
          }
          pos += whole;
          continue;
        }
      } else if (type === FRAME_BODY) {
        const state = this.channels[channel];
        if (state !== undefined) this.setChannel(channel, afterBody(state, size));
      } else if (type !== FRAME_HEARTBEAT) {
        return this.giveUp('bad_frame_type', `type ${type}`, buf, flushFrom, out);
      }
      // Stream the rest of this frame without looking at it.
      this.frames++;
      pos += FRAME_HEADER_SIZE;
      this.skip = size;
      this.endPending = true;
    }
    if (flushFrom < len) out.push(flushFrom === 0 ? buf : buf.subarray(flushFrom));
    if (this.stopRequested && this.skip === 0 && !this.endPending) this.phase = 'stopped';
  }

  /**
   * An idle channel keeps its entry: delete-then-set on every message churned V8's hash
   * table (tombstones, then a rehash). Channel numbers are 16-bit, so the map stays bounded.
   */
  private setChannel(channel: number, state: ChannelState): void {
    if (state !== IDLE || this.channels[channel] !== undefined) this.channels[channel] = state;
  }
}
