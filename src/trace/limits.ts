/**
 * Defaults of the limits the tracer keeps, which config's options take as theirs. This file
 * imports nothing, so config reads them without pulling in the tracer (as with
 * src/proxy/limits.ts and src/http/limits.ts).
 */

/** The default of --publish-stamp-max-age-ms: a message queued longer is not timed. */
export const DEFAULT_STAMP_MAX_AGE_MS = 3_600_000;

/** The defaults of --state-max-bytes and --connection-state-max-bytes. */
export const DEFAULT_STATE_MAX_BYTES = 64 * 1024 * 1024;
export const DEFAULT_CONNECTION_STATE_MAX_BYTES = 16 * 1024 * 1024;
