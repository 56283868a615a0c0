/** The one sleep of the tests: for waiting on something outside the process, never to cross a threshold. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `done` every `everyMs` until it holds; rejects after `timeoutMs` naming `what`, so a
 * failing test says what it was waiting for. `done` may be async; if it throws, so does this.
 */
export async function waitFor(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
