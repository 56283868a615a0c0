/**
 * The delivery-history headers as RabbitMQ, amqplib and py-amqp put them on the wire. The
 * first vector is a headers table captured from RabbitMQ 3.10.8 (a message rejected from
 * `i23-12030.work` with CC `i23-12030.cc`); the others are built in the shapes seen there
 * and in RabbitMQ's sources (rabbit_dead_letter.erl for 3.10, mc_amqpl.erl for 3.13+).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { locateHistoryHeaders, readDeliveryHistory } from '../../../../src/trace/amqp091/historyHeaders';
import { NO_HISTORY } from '../../../../src/trace/deliveryHistory';
import { entry, expectDecodeError, longstr, table, u32, u64, u8 } from '../../../support/amqpVectors';

const CAPTURED_REJECT = Buffer.from(
  '000001660243434100000011530000000c6932332d31323033302e63630b7472616365706172656e74530000003730302d3061663736353139'
  + '3136636434336464383434386562323131633830333139632d623761643662373136393230333333312d303107782d64656174684100000093'
  + '460000008e05636f756e746c000000000000000106726561736f6e530000000872656a6563746564057175657565530000000e6932332d3132'
  + '3033302e776f726b0474696d6554000000006b15e1700865786368616e676553000000000c726f7574696e672d6b6579734100000024530000'
  + '000e6932332d31323033302e776f726b530000000c6932332d31323033302e636316782d66697273742d64656174682d65786368616e676553'
  + '0000000013782d66697273742d64656174682d7175657565530000000e6932332d31323033302e776f726b14782d66697273742d6465617468'
  + '2d726561736f6e530000000872656a6563746564',
  'hex',
);

const read = (headers: Buffer, redelivered = false) => readDeliveryHistory(headers, locateHistoryHeaders(headers, 0), redelivered);
const S = (text: string): Buffer => Buffer.concat([Buffer.from('S'), longstr(text)]);
const array = (values: Buffer[]): Buffer => { const body = Buffer.concat(values); return Buffer.concat([u32(body.length), body]); };
const int32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };

/** One x-death entry as a tagged `F` value, fields in the order given. */
function death(fields: Record<string, Buffer>): Buffer {
  return Buffer.concat([Buffer.from('F'), table(Object.entries(fields).map(([name, tagged]) => entry(name, tagged.subarray(0, 1).toString('latin1'), tagged.subarray(1))))]);
}
const l = (n: number): Buffer => Buffer.concat([Buffer.from('l'), u64(n)]);
const b = (n: number): Buffer => Buffer.concat([Buffer.from('b'), u8(n)]);
const T = (s: number): Buffer => Buffer.concat([Buffer.from('T'), u64(s)]);

test('the captured reject: reason, source queue, exchange, count and time of the latest death, and the first-death summary', () => {
  const history = read(CAPTURED_REJECT);
  const dl = history.deadLetter!;
  assert.equal(dl.latest, { reason: 'rejected', queue: 'i23-12030.work', exchange: '', count: 1, timeSeconds: 1796596080 });
  assert.is(dl.entries, 1);
  assert.is(dl.firstQueue, 'i23-12030.work');
  assert.is(dl.firstReason, 'rejected');
  assert.is(history.redelivered, false);
  assert.is(history.celery, undefined);
});

test('entry fields are read by name in every order RabbitMQ writes them, with count as l or b; the first entry is the latest', () => {
  const sorted = death({ count: b(3), exchange: S('work-x'), queue: S('wait'), reason: S('expired'), 'routing-keys': Buffer.concat([Buffer.from('A'), array([S('k')])]), time: T(1700000001) });
  const v313 = death({ 'original-expiration': S('150'), count: l(1), reason: S('rejected'), queue: S('work'), time: T(1700000000), exchange: S('') });
  const headers = table([entry('x-death', 'A', array([sorted, v313]))]);
  const dl = read(headers).deadLetter!;
  assert.equal(dl.latest, { reason: 'expired', queue: 'wait', exchange: 'work-x', count: 3, timeSeconds: 1700000001 });
  assert.equal(dl.deaths[1], { reason: 'rejected', queue: 'work', exchange: '', count: 1, timeSeconds: 1700000000 });
  assert.is(dl.entries, 2);
  assert.is(dl.firstQueue, undefined, 'no x-first-death-* sent');
});

test('quorum counters and the redelivered flag; a first plain delivery is the shared NO_HISTORY', () => {
  const history = read(table([entry('x-delivery-count', 'l', u64(2))]), true);
  assert.is(history.deliveryCount, 2);
  assert.is(history.acquiredCount, undefined);
  assert.is(history.redelivered, true);
  assert.is(read(table([entry('x-acquired-count', 'l', u64(4))])).acquiredCount, 4);
  assert.is(read(table([entry('traceparent', 'S', longstr('x')), entry('id', 'S', longstr('t'))])), NO_HISTORY);
  assert.is(read(table([])), NO_HISTORY);
  assert.is(read(table([]), true).redelivered, true);
});

test('Celery: retries as py-amqp sends it (I), the eta string and its time; eta void (None) is no eta', () => {
  const retry = read(table([
    entry('retries', 'I', int32(2)), entry('eta', 'S', longstr('2026-12-06T22:30:10.225135+00:00')), entry('parent_id', 'V', Buffer.alloc(0)),
  ]));
  assert.equal(retry.celery, { retries: 2, eta: '2026-12-06T22:30:10.225135+00:00', etaMs: Date.UTC(2026, 11, 6, 22, 30, 10) + 225.135 });
  const first = read(table([entry('retries', 'I', int32(0)), entry('eta', 'V', Buffer.alloc(0))]));
  assert.is(first, NO_HISTORY, 'every task message has both: a first attempt without eta is the plain case');
  const naive = read(table([entry('eta', 'S', longstr('2026-12-06T22:30:10'))]));
  assert.equal(naive.celery, { retries: 0, eta: '2026-12-06T22:30:10', etaMs: undefined });
});

test('an x-death that is no array of tables is no dead-letter history; one running past its table is a decode error', () => {
  assert.is(read(table([entry('x-death', 'S', longstr('rejected'))])).deadLetter, undefined);
  assert.is(read(table([entry('x-death', 'A', array([S('x')]))])).deadLetter, undefined);
  const lying = Buffer.concat([Buffer.from('A'), u32(5), Buffer.from('F'), u32(100)]);
  expectDecodeError(() => read(table([entry('x-death', lying.subarray(0, 1).toString(), lying.subarray(1))])), 'TRUNCATED');
});

test.run();
