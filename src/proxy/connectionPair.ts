import type { Socket } from 'node:net';
import { ReplyCode } from '../amqp/constants';
import { AmqpDecodeError } from '../amqp/errors';
import { encodeConnectionClose } from '../amqp/methods';
import { FailOpenReason, FrameScanner } from '../amqp/scanner';
import { HandshakeWatch } from './handshakeWatch';
import type { Upstream } from '../config/upstream';
import type { Logger } from '../log/logger';
import type { Direction, ProxyMetrics, UnreadFrameReason } from '../metrics/metrics';
import type { ConnectionSession } from './session';

/** How long a half-closed side may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 5000;

export interface PairOptions {
  readonly id: number;
  readonly client: Socket;
  readonly upstream: Socket;
  readonly upstreamInfo: Upstream;
  /** Undefined: opaque TCP pipe, no parsing at all (ENABLE_TRACE_PROPAGATION=false). */
  readonly session: ConnectionSession | undefined;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** Held frames' bound once the handshake is over and frame_max is larger or unlimited (--max-frame-hold-bytes). */
  readonly maxFrameHoldBytes: number;
  /**
   * The proxy no longer follows the AMQP 0-9-1 handshake: connection.open-ok reached the
   * client, or the connection went opaque (a protocol that is not 0-9-1, such as AMQP 1.0,
   * or bytes the scanner could not frame).
   */
  readonly onHandshakeEnd?: (how: 'opened' | 'opaque') => void;
  readonly onClosed: (pair: ConnectionPair) => void;
}

/**
 * One client connection and its broker connection. Bytes flow in both directions through a
 * FrameScanner (or straight through in opaque mode); when a side cannot take more, the other
 * side stops being read until it drains, so memory stays bounded by socket buffers plus at
 * most one held frame per direction.
 */
export class ConnectionPair {
  private readonly toBroker: FrameScanner | undefined;
  private readonly toClient: FrameScanner | undefined;
  private readonly handshake: HandshakeWatch | undefined;
  private closed = 0;
  private failedOpen = false;
  private unreadLogged = false;
  /** A frame of the proxy's own to write once a scanner has stopped at a frame boundary. */
  private readonly finalFrame = new Map<FrameScanner, { to: Socket; frame: Buffer }>();

  constructor(private readonly options: PairOptions) {
    const { client, upstream, session } = options;
    if (session) {
      const onFailOpen = (reason: FailOpenReason, detail: string): void => this.failOpen(reason, detail);
      const onUnread = (method: number, err: unknown): void => this.unreadFrame(method, err);
      const handshake = new HandshakeWatch(session, options.maxFrameHoldBytes, {
        limits: (limits) => {
          toBroker.setLimits(limits);
          toClient.setLimits(limits);
        },
        anomaly: (anomaly) => options.metrics.handshakeAnomaly(anomaly),
        opened: () => options.onHandshakeEnd?.('opened'),
      });
      const toBroker = new FrameScanner(handshake.clientHooks, true, onFailOpen, onUnread);
      const toClient = new FrameScanner(handshake.serverHooks, false, onFailOpen, onUnread);
      this.handshake = handshake;
      this.toBroker = toBroker;
      this.toClient = toClient;
    }
    this.relay(client, upstream, this.toBroker, 'client_to_broker');
    this.relay(upstream, client, this.toClient, 'broker_to_client');
    this.closeTogether(client, upstream);
  }

  get id(): number {
    return this.options.id;
  }

  get client(): Socket {
    return this.options.client;
  }

  /** Bytes the proxy holds for this connection in its sockets' buffers, both directions. */
  get bufferedBytes(): number {
    const { client, upstream } = this.options;
    return client.writableLength + client.readableLength + upstream.writableLength + upstream.readableLength;
  }

  /** See ConnectionControl.frameMax. */
  get frameMax(): number {
    return this.handshake?.frameMax ?? 0;
  }

  /**
   * Closes both sides the AMQP way (spec 1.4.2.9): each direction stops at its next frame
   * boundary, then the client gets connection.close 320 CONNECTION_FORCED (so its library
   * reconnects) and so does the broker (so it requeues unacked deliveries at once).
   * Connections whose frame boundaries are unknown (opaque) are simply closed.
   */
  closeForced(replyText: string, graceMs: number): void {
    const { client, upstream } = this.options;
    const frame = encodeConnectionClose(ReplyCode.ConnectionForced, replyText, 0, 0);
    const sides: [FrameScanner | undefined, Socket][] = [[this.toClient, client], [this.toBroker, upstream]];
    if (sides.some(([scanner]) => scanner === undefined || !scanner.stopAtBoundary())) {
      this.destroy();
      return;
    }
    for (const [scanner, to] of sides) {
      this.finalFrame.set(scanner!, { to, frame });
      this.writeFinalFrame(scanner!);
    }
    const timer = setTimeout(() => this.destroy(), graceMs);
    timer.unref();
    client.once('close', () => clearTimeout(timer));
  }

  private writeFinalFrame(scanner: FrameScanner): void {
    const final = this.finalFrame.get(scanner);
    if (final === undefined || !scanner.stopped) return;
    this.finalFrame.delete(scanner);
    if (!final.to.destroyed) final.to.write(final.frame);
  }

  destroy(): void {
    this.options.client.destroy();
    this.options.upstream.destroy();
  }

  private relay(from: Socket, to: Socket, scanner: FrameScanner | undefined, direction: Direction): void {
    const { metrics } = this.options;
    const out: Buffer[] = [];
    let waitingForDrain = false;
    const resume = (): void => {
      waitingForDrain = false;
      from.resume();
    };
    from.on('data', (chunk: Buffer) => {
      let ok: boolean;
      if (scanner === undefined) {
        ok = to.write(chunk);
        metrics.traffic(direction, 0, chunk.length);
      } else {
        const before = scanner.frames;
        out.length = 0;
        scanner.push(chunk, out);
        ok = writeAll(to, out);
        metrics.traffic(direction, scanner.frames - before, chunk.length);
        if (scanner.stopped) this.writeFinalFrame(scanner);
      }
      if (!ok && !waitingForDrain) {
        waitingForDrain = true;
        from.pause();
        to.once('drain', resume);
      }
    });
  }

  /** One side failed to parse: both directions pass bytes through untouched from here on. */
  private failOpen(reason: FailOpenReason, detail: string): void {
    if (this.failedOpen) return;
    this.failedOpen = true;
    const { metrics, logger, client, upstream, session } = this.options;
    metrics.failOpen(reason);
    logger.warn({ conn: this.id, reason, detail }, 'frame parser gave up; connection continues as opaque pass-through');
    this.options.onHandshakeEnd?.('opaque');
    const heldToBroker = this.toBroker?.failOpen();
    if (heldToBroker) upstream.write(heldToBroker);
    const heldToClient = this.toClient?.failOpen();
    if (heldToClient) client.write(heldToClient);
    session?.close('fail_open');
  }

  /**
   * A frame went through unread (see UnreadFrameListener). Counted every time, logged once
   * per connection: the codec's messages name tags and offsets, never values.
   */
  private unreadFrame(method: number, err: unknown): void {
    const reason: UnreadFrameReason = err instanceof AmqpDecodeError ? (err.code.toLowerCase() as UnreadFrameReason) : 'other';
    this.options.metrics.unreadFrame(reason);
    if (this.unreadLogged) return;
    this.unreadLogged = true;
    const detail = err instanceof Error ? err.message : String(err);
    this.options.logger.warn(
      { conn: this.id, reason, method: `${method >>> 16}.${method & 0xffff}`, detail },
      'a frame the proxy could not read was forwarded untouched and its message not traced; the connection stays traced (logged once per connection)',
    );
  }

  private closeTogether(a: Socket, b: Socket): void {
    const onClose = (): void => {
      if (++this.closed === 2) this.finish();
    };
    for (const [self, other] of [[a, b], [b, a]] as const) {
      self.on('error', (err) => {
        this.options.logger.debug({ conn: this.id, side: self === a ? 'client' : 'broker', code: codeOf(err) }, 'socket error');
        other.end();
        other.setTimeout(CLOSE_GRACE_MS, () => other.destroy());
      });
      self.on('end', () => other.end());
      self.on('close', () => {
        if (!other.destroyed) {
          other.end();
          const timer = setTimeout(() => other.destroy(), CLOSE_GRACE_MS);
          timer.unref();
          other.once('close', () => clearTimeout(timer));
        }
        onClose();
      });
    }
  }

  private finish(): void {
    this.options.session?.close('connection_closed');
    this.options.onClosed(this);
  }
}

function writeAll(to: Socket, out: Buffer[]): boolean {
  if (out.length === 1) return to.write(out[0]!);
  if (out.length === 0) return true;
  // cork/uncork turns the slices of one chunk into a single writev.
  to.cork();
  let ok = true;
  for (const b of out) ok = to.write(b);
  to.uncork();
  return ok;
}

function codeOf(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}
