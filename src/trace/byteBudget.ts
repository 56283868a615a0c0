import type { MessageContext } from './recordedSpan';

/**
 * Bytes of message-derived state (records, copies, remembered ids) the proxy may hold. A
 * budget may draw on a parent: a channel's on its connection's, a connection's on the
 * process's, so one client can neither hold more than its share nor, with many connections,
 * more than the process allows. Sizes are estimates: the bytes an entry copies or keeps
 * (buffers, string lengths) plus ENTRY_OVERHEAD for its objects and map slot.
 */
export class ByteBudget {
  private taken = 0;

  constructor(readonly limit: number, private readonly parent?: ByteBudget) {}

  get used(): number {
    return this.taken;
  }

  /** Bytes that can still be taken here: the least room of this budget and its parents. */
  room(): number {
    const own = this.limit - this.taken;
    return this.parent === undefined ? own : Math.min(own, this.parent.room());
  }

  /** Takes `bytes` when this budget and every parent have room; takes nothing otherwise. */
  tryTake(bytes: number): boolean {
    if (this.taken + bytes > this.limit) return false;
    if (this.parent !== undefined && !this.parent.tryTake(bytes)) return false;
    this.taken += bytes;
    return true;
  }

  give(bytes: number): void {
    this.taken -= bytes;
    this.parent?.give(bytes);
  }
}

/** What an entry costs besides the bytes it keeps: its objects, the map's slot, string headers. */
export const ENTRY_OVERHEAD = 128;

/** A trace context's ids (32 + 16 characters) and its tracestate, which the message chose. */
export function contextBytes(context: MessageContext | undefined): number {
  return context === undefined ? 0 : 48 + (context.traceState?.length ?? 0);
}

/** No budget: for tests and callers that bound by count alone. */
export const UNLIMITED = new ByteBudget(Number.POSITIVE_INFINITY);

