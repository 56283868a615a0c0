/**
 * The connection handshake (spec 2.2.4) as a proxy between the two peers sees it: only the
 * steps that decide how large a frame may be.
 *
 *   broker                     client
 *   connection.tune   ──▶                 awaitingTune → tuning (the broker's frame_max)
 *                     ◀──  connection.tune-ok             tuning → opening (negotiated)
 *   connection.open-ok ──▶                opening → open
 *
 * Nothing before open-ok is authenticated for sure (RabbitMQ sends tune only after start-ok's
 * credentials, but a tune-ok can arrive at any time), so until then a frame the proxy holds
 * to read is at most the spec's frame-min-size, and frame_max is taken only from a tune-ok
 * that answers a tune, never above what the broker offered. Pure transitions; the proxy
 * keeps one state per connection (src/proxy/handshakeWatch.ts).
 */

export type Handshake =
  | { readonly kind: 'awaitingTune' }
  | { readonly kind: 'tuning'; readonly brokerFrameMax: number }
  | { readonly kind: 'opening'; readonly frameMax: number }
  | { readonly kind: 'open'; readonly frameMax: number };

/** Tune-oks the proxy does not take at their word; each is counted (handshake_anomalies_total). */
export const HANDSHAKE_ANOMALIES = [
  // A tune-ok before the broker's tune, or a second one: its frame_max is ignored.
  'tune_ok_unasked',
  // A tune-ok asking for more than the broker offered (or for "no limit" when the broker has one).
  'frame_max_above_broker',
] as const;
export type HandshakeAnomaly = (typeof HANDSHAKE_ANOMALIES)[number];

export interface Transition {
  readonly state: Handshake;
  readonly anomaly?: HandshakeAnomaly;
}

/** The spec's frame-min-size (4.2.3): the largest frame a peer must accept before tuning. */
export const FRAME_MIN_SIZE = 4096;
/**
 * Frames larger than this before tuning are not AMQP 0-9-1 as any broker takes it (RabbitMQ
 * closes the connection on a frame over frame-min-size before tune) and are most likely not
 * frames at all: the scanner stops looking (fail open). Frames between FRAME_MIN_SIZE and
 * this stream through unread, so a broker that accepts a large start-ok still gets it.
 */
export const PRE_TUNE_FRAME_LIMIT = 128 * 1024;

export const AWAITING_TUNE: Handshake = { kind: 'awaitingTune' };

export function afterTune(state: Handshake, brokerFrameMax: number): Handshake {
  return state.kind === 'awaitingTune' ? { kind: 'tuning', brokerFrameMax } : state;
}

export function afterTuneOk(state: Handshake, clientFrameMax: number): Transition {
  if (state.kind !== 'tuning') return { state, anomaly: 'tune_ok_unasked' };
  const frameMax = negotiatedFrameMax(state.brokerFrameMax, clientFrameMax);
  const next: Handshake = { kind: 'opening', frameMax };
  return frameMax === clientFrameMax ? { state: next } : { state: next, anomaly: 'frame_max_above_broker' };
}

export function afterOpenOk(state: Handshake): Handshake {
  return state.kind === 'opening' ? { kind: 'open', frameMax: state.frameMax } : state;
}

/**
 * frame_max both sides can live with: the smaller, where 0 means "no limit" (spec 1.4.2.6.1).
 * A client may only lower the broker's value; RabbitMQ closes a connection whose tune-ok asks
 * for more, so clamping changes nothing for a connection the broker keeps.
 */
export function negotiatedFrameMax(broker: number, client: number): number {
  if (broker === 0) return client;
  if (client === 0) return broker;
  return Math.min(broker, client);
}

export interface FrameLimits {
  /** Larger frames are not frames: the scanner fails open. */
  readonly frame: number;
  /** Larger frames are not held whole to be read (the scanner fails open on those too). */
  readonly hold: number;
}

/**
 * What the scanners accept in `state`. `holdCap` bounds held frames when the negotiated
 * frame_max is larger or unlimited (--max-frame-hold-bytes).
 */
export function frameLimits(state: Handshake, holdCap: number): FrameLimits {
  switch (state.kind) {
    case 'awaitingTune':
    case 'tuning':
      return { frame: PRE_TUNE_FRAME_LIMIT, hold: FRAME_MIN_SIZE };
    case 'opening':
      return { frame: state.frameMax === 0 ? Infinity : state.frameMax, hold: FRAME_MIN_SIZE };
    case 'open':
      return state.frameMax === 0 ? { frame: Infinity, hold: holdCap } : { frame: state.frameMax, hold: Math.min(state.frameMax, holdCap) };
  }
}
