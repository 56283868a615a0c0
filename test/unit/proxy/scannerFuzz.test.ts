import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzzOne } from '../../fuzz/scannerFuzz';

/** A bounded share of `npm run fuzz`: new seeds every run, the failing one printed for replay. */
test('frame scanner + headers splice: random and damaged streams for 2.5 s, output matches the model', () => {
  const first = Math.floor(Math.random() * 1e9);
  const deadline = Date.now() + 2500;
  let n = 0;
  for (; Date.now() < deadline; n++) {
    const failure = fuzzOne(first + n);
    if (failure) assert.unreachable(`seed ${failure.seed} (replay: npm run fuzz -- 1 ${failure.seed}): ${failure.problem}\ninput ${failure.input}`);
  }
  assert.ok(n > 1000, `only ${n} inputs in the time budget`);
});

test.run();
