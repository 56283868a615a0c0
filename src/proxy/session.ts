import type { ScannerHooks } from '../amqp/scanner';
import type { Upstream } from '../config/upstream';

/**
 * What the proxy asks of the layer that decides what messages carry (src/trace): one session
 * per client connection, with hooks for each direction. The proxy owns sockets; the session
 * owns per-message decisions and never sees a socket.
 */
export interface ConnectionSession {
  /** Frames from the client to the broker. */
  readonly clientHooks: ScannerHooks;
  /** Frames from the broker to the client. */
  readonly serverHooks: ScannerHooks;
  /** The connection is gone (or went opaque): end whatever is still open. */
  close(reason: string): void;
}

/** What the proxy tells a session about its connection. */
export interface ConnectionControl {
  /**
   * frame_max as negotiated (src/amqp/handshake.ts: the client's tune-ok, never above the
   * broker's tune); 0 until then, and when neither side has a limit.
   */
  readonly frameMax: number;
}

export interface SessionInfo {
  readonly id: number;
  readonly upstream: Upstream;
  readonly control: ConnectionControl;
}

export type SessionFactory = (info: SessionInfo) => ConnectionSession;
