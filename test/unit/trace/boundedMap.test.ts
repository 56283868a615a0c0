import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoundedMap } from '../../../src/trace/boundedMap';

function bounded(capacity: number): { map: BoundedMap<string, number>; evicted: string[] } {
  const evicted: string[] = [];
  return { map: new BoundedMap<string, number>(capacity, (key, value) => evicted.push(`${key}=${value}`)), evicted };
}

test('BoundedMap: a full map evicts the oldest entry, in insertion order, across many inserts', () => {
  const { map, evicted } = bounded(3);
  for (let i = 0; i < 10; i++) map.set(`k${i}`, i);
  assert.equal(evicted, ['k0=0', 'k1=1', 'k2=2', 'k3=3', 'k4=4', 'k5=5', 'k6=6']);
  assert.equal([...map.entries()], [['k7', 7], ['k8', 8], ['k9', 9]]);
});

test('BoundedMap: entries deleted meanwhile are not evicted again; an entry set again becomes the newest', () => {
  const { map, evicted } = bounded(3);
  map.set('a', 1);
  map.set('b', 2);
  map.set('c', 3);
  map.set('d', 4); // evicts a
  assert.is(map.delete('b'), 2);
  map.set('c', 30); // c moves behind d
  map.set('e', 5); // room for it: b was deleted
  map.set('f', 6); // evicts d, the oldest now
  map.set('g', 7); // evicts c
  assert.equal(evicted, ['a=1', 'd=4', 'c=30']);
  assert.equal([...map.entries()], [['e', 5], ['f', 6], ['g', 7]]);
});

test('BoundedMap: after clear, and after the map was emptied by deletes, eviction still finds the oldest', () => {
  const { map, evicted } = bounded(2);
  map.set('a', 1);
  map.set('b', 2);
  map.set('c', 3); // evicts a
  map.clear();
  map.set('d', 4);
  map.set('e', 5);
  map.set('f', 6); // evicts d
  map.delete('e');
  map.delete('f');
  map.set('g', 7);
  map.set('h', 8);
  map.set('i', 9); // evicts g
  assert.equal(evicted, ['a=1', 'd=4', 'g=7']);
  assert.equal([...map.entries()], [['h', 8], ['i', 9]]);
});

test.run();
