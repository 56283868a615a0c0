import type { Clock } from '../../src/trace/clock';

/** A Clock that moves only when the test says: crossing a latency threshold costs no wall time. */
export class FakeClock implements Clock {
  constructor(private ms = 1_000_000) {}

  now(): number {
    return this.ms;
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}
