import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
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

// In a fresh process that has loaded what the proxy loads: a plain full collection left
// about 2.5 MB of the old generation's pages empty, the compacting one 0.7 MB.
test('the start-up collection compacts: the old generation keeps few empty pages', () => {
  const root = resolve(__dirname, '../../..');
  const script = `
    const { getHeapSpaceStatistics } = require('node:v8');
    require(${JSON.stringify(resolve(root, 'src/app.ts'))});
    if (!require(${JSON.stringify(resolve(root, 'src/proxy/gcTuning.ts'))}).collectGarbageNow()) throw new Error('no gc');
    const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
    process.stdout.write(String(old.space_size - old.space_used_size));
  `;
  const emptyBytes = Number(execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: root, encoding: 'utf8' }));
  assert.ok(emptyBytes < 1.5 * 1024 * 1024, `${(emptyBytes / 1048576).toFixed(2)} MB of the old generation is empty after the start-up collection`);
});

test.run();
