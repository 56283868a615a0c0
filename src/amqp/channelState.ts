import { CONTENT_METHODS } from './constants';

/**
 * Where a channel is in the content sequence of spec 4.2.6:
 *
 *   method (publish | deliver | get-ok | return) → content header → body frames … → idle
 *
 * Pure transitions; the scanner keeps one state per channel with content in flight.
 */
export type ChannelState =
  | { readonly kind: 'idle' }
  | { readonly kind: 'awaitingHeader'; readonly method: number }
  | { readonly kind: 'inBody'; readonly method: number; readonly remaining: number };

export const IDLE: ChannelState = { kind: 'idle' };

/** States are immutable, so each content method's "awaiting header" state is made once. */
const AWAITING_HEADER: ReadonlyMap<number, ChannelState> = new Map(
  [...CONTENT_METHODS].map((method) => [method, { kind: 'awaitingHeader', method }]),
);

export function afterMethod(key: number): ChannelState {
  return AWAITING_HEADER.get(key) ?? IDLE;
}

export function afterHeader(state: ChannelState, bodySize: number): ChannelState {
  if (state.kind !== 'awaitingHeader' || bodySize <= 0) return IDLE;
  return { kind: 'inBody', method: state.method, remaining: bodySize };
}

export function afterBody(state: ChannelState, size: number): ChannelState {
  if (state.kind !== 'inBody' || size >= state.remaining) return IDLE;
  return { kind: 'inBody', method: state.method, remaining: state.remaining - size };
}
