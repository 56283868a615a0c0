import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PublishedSpan, PublishedSpans } from '../../../src/trace/publishedSpans';

function counting(): { metrics: ConstructorParameters<typeof PublishedSpans>[1]; size: () => number; evicted: () => number } {
  let size = -1;
  let evicted = 0;
  return {
    metrics: {
      inflight: (map, n) => { assert.is(map, 'published'); size = n; },
      inflightEvicted: (map) => { assert.is(map, 'published'); evicted++; },
    },
    size: () => size,
    evicted: () => evicted,
  };
}

const at = (ms: number): PublishedSpan => ({ startedAt: ms, endedAt: ms + 1, context: 'injected', parent: undefined });

test('PublishedSpans: full, the oldest publish is evicted and counted; each is taken once', () => {
  const m = counting();
  const published = new PublishedSpans(2, m.metrics);
  published.remember('a', at(1));
  published.remember('b', at(2));
  assert.is(m.size(), 2);
  assert.is(m.evicted(), 0);
  published.remember('c', at(3));
  assert.is(m.size(), 2, 'bounded');
  assert.is(m.evicted(), 1, 'the eviction is counted');
  assert.is(published.take('a'), undefined, 'the oldest went');
  assert.equal(published.take('b'), at(2));
  assert.is(published.take('b'), undefined, 'taken once: its span is made once');
  assert.is(m.size(), 1);
  assert.equal(published.take('c'), at(3));
  assert.is(m.size(), 0);
});

test('PublishedSpans: a publish remembered again is not an eviction', () => {
  const m = counting();
  const published = new PublishedSpans(1, m.metrics);
  published.remember('a', at(1));
  published.remember('a', at(5));
  assert.is(m.evicted(), 0);
  assert.equal(published.take('a'), at(5));
});

test.run();
