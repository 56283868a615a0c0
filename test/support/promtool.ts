/**
 * Runs Prometheus' promtool for tests. A missing promtool is a failure, never a skip: the
 * rule, dashboard and exposition checks are only worth something if they always run.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { installHint } from './hostDeps';

export interface PromtoolResult {
  status: number;
  stdout: string;
  stderr: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** $PROMTOOL when set, else the first promtool on $PATH, else /usr/bin/promtool. */
export function locatePromtool(): string {
  const fromEnv = process.env['PROMTOOL'];
  const candidates = fromEnv
    ? [fromEnv]
    : [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'promtool')), '/usr/bin/promtool'];
  const found = candidates.find(isExecutable);
  if (found === undefined) {
    throw new Error(
      `promtool not found (looked at ${candidates.join(', ')}). ` +
        `${installHint('promtool')}; or set PROMTOOL=/path/to/promtool.`,
    );
  }
  return found;
}

/** Runs promtool synchronously; `input` goes to its stdin (e.g. for `check metrics`). */
export function runPromtool(args: readonly string[], input?: string): PromtoolResult {
  const result = spawnSync(locatePromtool(), args, { input, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}
