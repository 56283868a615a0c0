import { Method } from '../amqp/constants';
import {
  AWAITING_TUNE, FrameLimits, Handshake, HandshakeAnomaly, afterOpenOk, afterTune, afterTuneOk, frameLimits,
} from '../amqp/handshake';
import { decodeConnectionTune } from '../amqp/methods';
import type { ScannerHooks } from '../amqp/scanner';

export interface HandshakeEvents {
  /** Both scanners take these limits from their next frame. */
  limits(limits: FrameLimits): void;
  anomaly(anomaly: HandshakeAnomaly): void;
  /** connection.open-ok went to the client: the handshake is over. */
  opened(): void;
}

type MethodHandler = (payload: Buffer) => void;

/**
 * One connection's handshake state (src/amqp/handshake.ts), fed by the connection methods on
 * channel 0 of both directions. It reads them through the scanners by adding its methods to
 * the session's hooks, so the session (the tracer) sees the frames it asked for as before.
 */
export class HandshakeWatch {
  readonly clientHooks: ScannerHooks;
  readonly serverHooks: ScannerHooks;
  private state: Handshake = AWAITING_TUNE;

  constructor(session: { clientHooks: ScannerHooks; serverHooks: ScannerHooks }, private readonly holdCap: number, private readonly events: HandshakeEvents) {
    this.clientHooks = withMethods(session.clientHooks, new Map<number, MethodHandler>([
      [Method.ConnectionTuneOk, (p) => {
        const { state, anomaly } = afterTuneOk(this.state, decodeConnectionTune(p).frameMax);
        if (anomaly !== undefined) events.anomaly(anomaly);
        this.enter(state);
      }],
    ]));
    this.serverHooks = withMethods(session.serverHooks, new Map<number, MethodHandler>([
      [Method.ConnectionTune, (p) => this.enter(afterTune(this.state, decodeConnectionTune(p).frameMax))],
      // The broker's word ends the handshake even when the proxy could not follow it (a
      // tune-ok it could not read): the limits then stay those of the handshake.
      [Method.ConnectionOpenOk, () => {
        this.enter(afterOpenOk(this.state));
        events.opened();
      }],
    ]));
  }

  /** The negotiated frame_max once tune-ok answered the broker's tune (0: none, or no limit). */
  get frameMax(): number {
    return this.state.kind === 'opening' || this.state.kind === 'open' ? this.state.frameMax : 0;
  }

  private enter(state: Handshake): void {
    if (state === this.state) return;
    this.state = state;
    this.events.limits(frameLimits(state, this.holdCap));
  }
}

/**
 * The session's hooks plus `own` methods on channel 0 (the connection class lives there,
 * spec 2.3.5): an own method is handled first, then handed to the session if it asked for it.
 */
function withMethods(session: ScannerHooks, own: ReadonlyMap<number, MethodHandler>): ScannerHooks {
  return {
    inspect: new Set([...session.inspect, ...own.keys()]),
    // Per inspected frame on the data path: one lookup for the session's methods.
    onMethod: (channel, key, payload) => {
      const handler = own.get(key);
      if (handler === undefined) return session.onMethod(channel, key, payload);
      if (channel === 0) handler(payload);
      if (session.inspect.has(key)) session.onMethod(channel, key, payload);
    },
    onContentHeader: session.onContentHeader.bind(session),
  };
}
