import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Turns V8's incremental marking off for the proxy's process, unless the node command line
 * asks for it (`node --incremental-marking dist/main.js`). Returns whether it was turned off.
 *
 * Why: every socket read gives the proxy a new buffer outside the JavaScript heap, tens of
 * MB/s at 16 KiB messages. Young-generation collections free them, and in an opaque Node
 * relay that is all that happens. The proxy's old generation (OpenTelemetry, gRPC,
 * prom-client, its own code: about 8.4 MB after start) sits just above V8's threshold for
 * incremental marking (8 MB), and from there the external-memory churn starts a full
 * mark-compact every few hundred milliseconds that frees almost nothing (8.6 -> 8.4 MB).
 * Measured with `node --trace-gc` and 20,000 × 16 KiB messages: 19-30 mark-compacts
 * (300-420 ms) with incremental marking, one without; the relay has none. In `make bench`
 * bypass at 16 KiB went from 1.6 × the relay's CPU per message to 1.0 ×.
 *
 * Without incremental marking the old generation is collected when it reaches V8's
 * allocation limit, in one pause; the proxy's heap is small (tens of MB), so those pauses
 * are short and rare. Flags set at run time apply to every collection after this call.
 */
export function disableIncrementalMarking(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((arg) => arg === '--incremental-marking' || arg === '--incremental_marking')) return false;
  setFlagsFromString('--no-incremental-marking');
  return true;
}

/**
 * One full collection now, before the proxy takes traffic. Returns whether it ran.
 *
 * Why: with incremental marking off, the first full collection comes when the old
 * generation first reaches V8's initial limit (about 15 MB: start-up's 11 MB plus a few
 * seconds of traffic) and stops the event loop for the whole mark-compact, 75 ms measured
 * under load at 500 msg/s, in the first seconds of traffic. Collected at start, the limit
 * is set from the live heap instead, and at 500 msg/s the next full collection did not come
 * within 60 s (`node --trace-gc`, docs/PERFORMANCE.md, fourth round).
 *
 * This one collection also compacts (`--compact-on-every-full-gc`, set for it alone unless
 * the node command line asks for it always): module loading leaves the old generation's
 * pages partly empty, about 2 MB of 11 that V8's heuristics do not move, and an idle sidecar
 * kept them (issue 24, docs/PERFORMANCE.md "Loading less").
 *
 * `gc()` exists only with --expose-gc; the flag set at run time applies to contexts made
 * after it, so a new context has it, and the proxy's own global does not.
 */
export function collectGarbageNow(execArgv: readonly string[] = process.execArgv): boolean {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  if (typeof gc !== 'function') return false;
  const alwaysCompact = execArgv.some((arg) => arg === '--compact-on-every-full-gc' || arg === '--compact_on_every_full_gc');
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    (gc as () => void)();
  } finally {
    if (!alwaysCompact) setFlagsFromString('--no-compact-on-every-full-gc');
  }
  return true;
}
