import type { Logger } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import type { ModeSwitch } from '../trace/tracingOptions';

export type Mode = 'tracing' | 'bypass';

export function parseMode(raw: string): Mode | undefined {
  const v = raw.trim().toLowerCase();
  if (v === 'tracing' || v === 'on' || v === 'true') return 'tracing';
  if (v === 'bypass' || v === 'off' || v === 'false') return 'bypass';
  return undefined;
}

/**
 * The one place the runtime mode changes. Connections with a session stop or resume
 * rewriting at their next frame, because their hooks read the same switch; which new
 * connections get a session is app.ts's decision.
 */
export class ModeController {
  /** True once the mode has been changed while running (not by the start-up settings). */
  switchedAtRuntime = false;

  constructor(
    readonly state: ModeSwitch,
    private readonly metrics: ProxyMetrics,
    private readonly logger: Logger,
  ) {
    metrics.setMode(this.mode);
  }

  private started = false;

  /** Start-up is over: changes from now on are runtime switches. */
  markStarted(): void {
    this.started = true;
  }

  get mode(): Mode {
    return this.state.tracing ? 'tracing' : 'bypass';
  }

  /** `peer`: who asked, address:port, when it came over the network. */
  set(mode: Mode, source: string, peer?: string): void {
    if (mode === this.mode) return;
    this.state.tracing = mode === 'tracing';
    if (this.started) this.switchedAtRuntime = true;
    this.metrics.setMode(mode);
    this.logger.warn(peer === undefined ? { mode, source } : { mode, source, peer }, 'mode switched');
  }
}
