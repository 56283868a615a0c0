import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { disableIncrementalMarking } from '../../../src/proxy/gcTuning';

// What the flag buys is measured by the benchmark (docs/PERFORMANCE.md), never timed here.
test('incremental marking is turned off unless the node command line asks for it', () => {
  assert.is(disableIncrementalMarking([]), true);
  assert.is(disableIncrementalMarking(['--max-old-space-size=256']), true);
  assert.is(disableIncrementalMarking(['--incremental-marking']), false);
  assert.is(disableIncrementalMarking(['--incremental_marking', '--trace-gc']), false);
});

test.run();
