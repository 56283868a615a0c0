import { ConfigError, loadConfig } from '../../src/config/config';

/** The problems loadConfig reports for these flags and environment, or [] when it accepts them. */
export function configProblems(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    loadConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
