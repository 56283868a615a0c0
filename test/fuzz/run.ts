/**
 * The fuzz script: `npm run fuzz` (or `make fuzz`), optionally with a number of inputs and a
 * first seed: `npm run fuzz -- 5000000 1`. Prints progress, stops at the first failure with
 * its seed and input (hex) so it can be replayed, and exits 1.
 */
import { fuzzOne } from './scannerFuzz';

const count = Number(process.argv[2] ?? 1_000_000);
const first = Number(process.argv[3] ?? Date.now() % 1_000_000_000);
const started = Date.now();
let slowest = 0;
for (let i = 0; i < count; i++) {
  const seed = first + i;
  const t = performance.now();
  const failure = fuzzOne(seed);
  slowest = Math.max(slowest, performance.now() - t);
  if (failure) {
    process.stderr.write(`FAIL at seed ${failure.seed}: ${failure.problem}\ninput: ${failure.input}\n`);
    process.exit(1);
  }
  if ((i + 1) % 100_000 === 0) {
    const s = (Date.now() - started) / 1000;
    process.stdout.write(`${i + 1} inputs, ${Math.round((i + 1) / s)}/s, slowest ${slowest.toFixed(1)} ms\n`);
  }
}
process.stdout.write(`ok: ${count} inputs from seed ${first} in ${((Date.now() - started) / 1000).toFixed(1)} s, slowest ${slowest.toFixed(1)} ms\n`);
