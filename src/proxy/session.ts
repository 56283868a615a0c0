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

export interface ConnectionControl {
  /** frame_max from connection.tune-ok applies to both directions' scanners. */
  setFrameMax(frameMax: number): void;
  /** connection.open-ok reached the client: the handshake is over (its timeout stops). */
  opened?(): void;
}

export interface SessionInfo {
  readonly id: number;
  readonly upstream: Upstream;
  readonly control: ConnectionControl;
}

export type SessionFactory = (info: SessionInfo) => ConnectionSession;
