import type { ByteBudget } from '../byteBudget';

/**
 * Requests on one channel awaiting their replies: consume → consume-ok, get → get-ok or
 * get-empty, queue.declare → declare-ok. A channel's methods are processed in order (spec
 * 4.7), so the n-th reply answers the n-th request, or the channel closes first.
 *
 * Bounded by count and by the connection's bytes: a request over either bound is not kept
 * (the caller counts it), and its reply then finds nothing rather than another request's.
 * Requests and replies are numbered for that: a dropped newest request would otherwise
 * let its reply take the next one kept, and dropping the oldest would shift every reply
 * after it onto the wrong request.
 */
export class InOrderReplies<T> {
  private requested = 0;
  private answered = 0;
  private readonly waiting: { readonly seq: number; readonly value: T; readonly bytes: number }[] = [];

  constructor(private readonly max: number, private readonly budget: ByteBudget) {}

  get size(): number {
    return this.waiting.length;
  }

  /** A request sent; false when it was not kept (over the count or the bytes). */
  request(value: T, bytes: number): boolean {
    const seq = this.requested++;
    if (this.waiting.length >= this.max || !this.budget.tryTake(bytes)) return false;
    this.waiting.push({ seq, value, bytes });
    return true;
  }

  /** The request the next reply answers; undefined when it was not kept. */
  reply(): T | undefined {
    // A reply to a request never seen here (sent before this channel was followed): counting
    // it would put every later reply one request ahead, for the rest of the channel.
    if (this.answered === this.requested) return undefined;
    const seq = this.answered++;
    // Entries are in order and each reply takes its own, so only the head can be it; an
    // older head (a reply the proxy did not see) would otherwise block every later one.
    while (this.waiting.length > 0 && this.waiting[0].seq <= seq) {
      const head = this.waiting.shift()!;
      this.budget.give(head.bytes);
      if (head.seq === seq) return head.value;
    }
    return undefined;
  }

  clear(): void {
    for (const w of this.waiting) this.budget.give(w.bytes);
    this.waiting.length = 0;
  }
}
