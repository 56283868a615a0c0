/**
 * scripts/host-deps.tsv, the one list of the host commands and Python modules the project runs
 * with the Debian package of each, for tests that need to say which package a missing tool is in.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const HOST_DEPS_FILE = 'scripts/host-deps.tsv';

export interface HostDep {
  /** A command name, or `python3:<module>`. */
  readonly what: string;
  readonly package: string;
  readonly usedBy: string;
}

export function readHostDeps(root = join(__dirname, '..', '..')): HostDep[] {
  return readFileSync(join(root, HOST_DEPS_FILE), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [what = '', pkg = '', usedBy = '', ...rest] = line.split('\t');
      if (what === '' || pkg === '' || usedBy === '' || rest.length > 0) throw new Error(`${HOST_DEPS_FILE}: not three tab-separated columns: ${line}`);
      return { what, package: pkg, usedBy };
    });
}

/** What to tell someone who lacks a listed command or module. */
export function installHint(what: string): string {
  const dep = readHostDeps().find((d) => d.what === what);
  if (!dep) throw new Error(`${what} is not in ${HOST_DEPS_FILE}`);
  return `${what} comes from the Debian package ${dep.package}: run ./scripts/install-system-deps.sh (make test does), which installs what ${HOST_DEPS_FILE} lists`;
}
