/**
 * Makes sure dist/ holds a build of the current src/ before the proxy is measured:
 * `npm run build` when dist/main.js is missing or older than any source or build setting.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tail } from './children';
import { writeFileSync } from 'node:fs';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

export function proxyBuildIsStale(repoRoot: string): { stale: boolean; why: string } {
  const main = join(repoRoot, 'dist', 'main.js');
  if (!existsSync(main)) return { stale: true, why: 'dist/main.js is missing' };
  const built = statSync(main).mtimeMs;
  const inputs = Math.max(
    newestMtime(join(repoRoot, 'src')),
    ...['tsconfig.json', 'package.json'].map((f) => statSync(join(repoRoot, f)).mtimeMs),
  );
  return inputs > built ? { stale: true, why: 'src/ is newer than dist/main.js' } : { stale: false, why: 'dist/ is up to date' };
}

export type BuildOutcome = { ok: true; note: string } | { ok: false; reason: string };

export async function ensureProxyBuilt(repoRoot: string, logFile: string): Promise<BuildOutcome> {
  const { stale, why } = proxyBuildIsStale(repoRoot);
  if (!stale) return { ok: true, note: why };
  return new Promise((resolve) => {
    execFile('npm', ['run', 'build'], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      writeFileSync(logFile, `${stdout}\n${stderr}`);
      if (err) resolve({ ok: false, reason: `npm run build failed (${why}): ${tail(logFile, 600)}` });
      else resolve({ ok: true, note: `built because ${why}` });
    });
  });
}
