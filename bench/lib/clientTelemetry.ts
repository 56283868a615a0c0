/**
 * What a client process must do before reporting its CPU: a client traced in-process (see
 * bench/otelClient.ts) exports its spans on its own schedule, and that export is part of
 * what in-process tracing costs. The preload registers a flush here; client.ts awaits it
 * before it reads its CPU. Untraced clients register nothing and pay nothing.
 */
let flush: (() => Promise<void>) | undefined;

export function registerFlush(fn: () => Promise<void>): void {
  flush = fn;
}

export async function flushTelemetry(): Promise<void> {
  await flush?.();
}
