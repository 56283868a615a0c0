#!/usr/bin/env node
// Runs the unit tests, then the benchmark harness's tests, then the integration tests, and
// ends with one summary line ("N passed, N failed") that CI can read whatever runner printed
// above it. Each runner's output is passed through as it is written (uvu prints a line per
// test file with a mark per test), so a long suite shows its progress while it runs.
const { spawn } = require('node:child_process');

const SUITES = ['test/unit', 'bench/test', 'test/integration'];

/** Runs one uvu directory, echoing its stdout live; resolves with that stdout and the exit status. */
function runSuite(dir) {
  return new Promise((resolve) => {
    const child = spawn('npx', ['uvu', '-r', 'tsx/cjs', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (status) => resolve({ out, status }));
  });
}

async function main() {
  let passed = 0;
  let failed = 0;
  for (const dir of SUITES) {
    const started = Date.now();
    console.log(`\n== ${dir}`);
    const run = await runSuite(dir);
    // uvu's own summary: "Total: N", "Passed: N" (with colour codes around the numbers).
    const plain = run.out.replace(/\x1b\[[0-9;]*m/g, '');
    const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
    const ok = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
    passed += ok;
    failed += total - ok;
    if (run.status !== 0 && total === ok) failed += 1; // crashed before or after its tests
    console.log(`== ${dir}: ${ok} of ${total} passed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main();
