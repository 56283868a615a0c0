import type { Socket } from 'node:net';
import { PROTOCOL_HEADER_SIZE } from '../amqp/constants';

export interface ConnectionLimits {
  /** Client connections open at once (0 = no limit). */
  readonly maxConnections: number;
  /**
   * Time from accept (after TLS) to connection.open-ok, the end of the AMQP handshake, not
   * counting the proxy's own upstream connect; the protocol header alone must come within
   * it before a broker connection is opened (0 = no limit). Without a session (opaque pipes)
   * frames are not read, so only the protocol header is bounded.
   */
  readonly handshakeTimeoutMs: number;
  /** No bytes in either direction for this long closes the connection (0 = never). */
  readonly idleTimeoutMs: number;
  /**
   * The same for a connection that became an opaque pipe before connection.open-ok (another
   * protocol, or bytes the proxy cannot frame): the handshake deadline stops there, since the
   * proxy cannot tell when such a handshake ends, and this bounds a peer that then goes
   * silent (0 or unset = off). Long: live traffic of another protocol carries heartbeats.
   */
  readonly opaqueIdleTimeoutMs?: number;
  /**
   * The largest frame held whole to be read once the handshake is over, when the negotiated
   * frame_max is larger or unlimited (before connection.open-ok: the spec's frame-min-size).
   */
  readonly maxFrameHoldBytes: number;
}

/** 8 times RabbitMQ's default frame_max: no effect on a broker left at its default. */
export const DEFAULT_MAX_FRAME_HOLD_BYTES = 1024 * 1024;

/**
 * Waits until the client has sent at least the 8 bytes of a protocol header, without
 * consuming them: the bytes stay in the socket's read buffer for the connection pair. The
 * header's content is not checked here (the scanner does that and fails open on anything
 * else). Resolves false on timeout or when the client goes away first.
 *
 * Only after this does the proxy open a broker connection, so a client that connects and
 * says nothing costs the broker nothing. The rest of the AMQP handshake is bounded by the
 * proxy's handshake deadline (ProxyServer) and the broker's own handshake_timeout.
 */
export function awaitProtocolHeader(client: Socket, timeoutMs: number): Promise<boolean> {
  if (timeoutMs <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('readable', onReadable);
      client.off('close', onClose);
      // Back to paused mode (not flowing): the pair's 'data' listener and resume() start it.
      client.pause();
      resolve(ok);
    };
    const onReadable = (): void => {
      if (client.readableLength >= PROTOCOL_HEADER_SIZE) finish(true);
    };
    const onClose = (): void => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    client.on('readable', onReadable);
    client.once('close', onClose);
    if (client.destroyed) finish(false);
    else onReadable();
  });
}
