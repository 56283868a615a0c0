import type { Logger } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import type { ModeSwitch } from '../trace/connectionTracer';

export type Mode = 'tracing' | 'bypass';

export function parseMode(raw: string): Mode | undefined {
  const v = raw.trim().toLowerCase();
  if (v === 'tracing' || v === 'on' || v === 'true') return 'tracing';
  if (v === 'bypass' || v === 'off' || v === 'false') return 'bypass';
  return undefined;
}

/**
 * The one place the runtime mode changes. New connections follow it at once (a bypassed one
 * is a plain pipe for its life); connections being traced stop or resume rewriting at their
 * next frame, because their hooks read the same switch.
 */
export class ModeController {
  constructor(
    readonly state: ModeSwitch,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {
    metrics.setMode(this.mode);
  }

  get mode(): Mode {
    return this.state.tracing ? 'tracing' : 'bypass';
  }

  set(mode: Mode, source: string): void {
    if (mode === this.mode) return;
    this.state.tracing = mode === 'tracing';
    this.metrics.setMode(mode);
    this.logger.warn({ mode, source }, 'mode switched');
  }
}
