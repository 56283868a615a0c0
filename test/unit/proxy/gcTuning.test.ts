import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { collectGarbageNow, disableIncrementalMarking } from '../../../src/proxy/gcTuning';
import { sleep } from '../../support/wait';

// What the flag buys is measured by the benchmark (docs/PERFORMANCE.md), never timed here.
test('incremental marking is turned off unless the node command line asks for it', () => {
  assert.is(disableIncrementalMarking([]), true);
  assert.is(disableIncrementalMarking(['--max-old-space-size=256']), true);
  assert.is(disableIncrementalMarking(['--incremental-marking']), false);
  assert.is(disableIncrementalMarking(['--incremental_marking', '--trace-gc']), false);
});

test('a full collection on demand, without gc() on the global object', async () => {
  const kinds: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) kinds.push(((entry as unknown as { detail: { kind: number } }).detail).kind);
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    assert.is(collectGarbageNow(), true);
    await sleep(50);
    assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), `gc kinds seen: ${kinds.join(',')}`);
    assert.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  } finally {
    observer.disconnect();
  }
});

test.run();
