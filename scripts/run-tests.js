#!/usr/bin/env node
// Runs the unit tests, then the integration tests, and ends with one summary line
// ("N passed, N failed") that CI can read whatever runner printed above it.
const { spawnSync } = require('node:child_process');

let passed = 0;
let failed = 0;
for (const dir of ['test/unit', 'bench/test', 'test/integration']) {
  const run = spawnSync('npx', ['uvu', '-r', 'tsx/cjs', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(run.stdout);
  // uvu's own summary: "Total: N", "Passed: N" (with colour codes around the numbers).
  const plain = run.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  passed += ok;
  failed += total - ok;
  if (run.status !== 0 && total === ok) failed += 1; // crashed before or after its tests
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
