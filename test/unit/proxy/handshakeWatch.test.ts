import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Method, methodKey } from '../../../src/amqp/constants';
import type { FrameLimits, HandshakeAnomaly } from '../../../src/amqp/handshake';
import type { ScannerHooks } from '../../../src/amqp/scanner';
import { HandshakeWatch } from '../../../src/proxy/handshakeWatch';
import { referenceMethodPayload } from '../../support/amqpVectors';

const tune = (frameMax: number): Buffer => referenceMethodPayload(Method.ConnectionTune, { channelMax: 2047, frameMax, heartbeat: 60 });
const tuneOk = (frameMax: number): Buffer => referenceMethodPayload(Method.ConnectionTuneOk, { channelMax: 16, frameMax, heartbeat: 60 });
const openOk = (): Buffer => referenceMethodPayload(Method.ConnectionOpenOk, { knownHosts: '' });

function watch(): { w: HandshakeWatch; limits: FrameLimits[]; anomalies: HandshakeAnomaly[]; opened: number[]; seen: string[] } {
  const limits: FrameLimits[] = [];
  const anomalies: HandshakeAnomaly[] = [];
  const opened: number[] = [];
  const seen: string[] = [];
  const hooks = (side: string): ScannerHooks => ({
    inspect: new Set([Method.BasicPublish, Method.ChannelClose]),
    onMethod: (channel, key) => { seen.push(`${side} ${channel} ${key.toString(16)}`); },
    onContentHeader: () => undefined,
  });
  const w = new HandshakeWatch({ clientHooks: hooks('client'), serverHooks: hooks('server') }, 1 << 20, {
    limits: (l) => limits.push(l),
    anomaly: (a) => anomalies.push(a),
    opened: () => opened.push(1),
  });
  return { w, limits, anomalies, opened, seen };
}

test('the handshake in order: limits at tune-ok and at open-ok, frame_max clamped to the broker\'s', () => {
  const { w, limits, anomalies, opened } = watch();
  assert.ok(w.clientHooks.inspect.has(Method.ConnectionTuneOk));
  assert.ok(w.serverHooks.inspect.has(Method.ConnectionTune) && w.serverHooks.inspect.has(Method.ConnectionOpenOk));
  w.serverHooks.onMethod(0, Method.ConnectionTune, tune(131_072));
  w.clientHooks.onMethod(0, Method.ConnectionTuneOk, tuneOk(0xffffffff));
  assert.is(w.frameMax, 131_072);
  assert.equal(anomalies, ['frame_max_above_broker']);
  w.serverHooks.onMethod(0, Method.ConnectionOpenOk, openOk());
  assert.equal(opened, [1]);
  assert.equal(limits.at(-1), { frame: 131_072, hold: 131_072 });
  // tuning (from awaitingTune), opening, open: each a change of limits.
  assert.is(limits.length, 3);
});

test('a tune-ok nobody asked for is counted and changes nothing', () => {
  const { w, limits, anomalies } = watch();
  w.clientHooks.onMethod(0, Method.ConnectionTuneOk, tuneOk(0xffffffff));
  assert.equal(anomalies, ['tune_ok_unasked']);
  assert.equal(limits, []);
  assert.is(w.frameMax, 0);
});

test('the session still gets the methods it asked for; connection methods count on channel 0 only', () => {
  const { w, seen, anomalies } = watch();
  w.clientHooks.onMethod(1, Method.BasicPublish, Buffer.alloc(4));
  w.serverHooks.onMethod(3, Method.ChannelClose, Buffer.alloc(4));
  w.clientHooks.onMethod(5, Method.ConnectionTuneOk, tuneOk(0xffffffff));
  assert.equal(seen, [`client 1 ${Method.BasicPublish.toString(16)}`, `server 3 ${methodKey(20, 40).toString(16)}`]);
  assert.equal(anomalies, []);
});

test.run();
