import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AWAITING_TUNE, FRAME_MIN_SIZE, Handshake, PRE_TUNE_FRAME_LIMIT, afterOpenOk, afterTune, afterTuneOk, frameLimits, negotiatedFrameMax,
} from '../../../src/amqp/handshake';

const CAP = 1024 * 1024;

test('the handshake in order: the negotiated frame_max bounds frames only after open-ok', () => {
  const tuning = afterTune(AWAITING_TUNE, 131_072);
  assert.equal(tuning, { kind: 'tuning', brokerFrameMax: 131_072 });
  const { state: opening, anomaly } = afterTuneOk(tuning, 65_536);
  assert.is(anomaly, undefined);
  assert.equal(opening, { kind: 'opening', frameMax: 65_536 });
  assert.equal(frameLimits(opening, CAP), { frame: 65_536, hold: FRAME_MIN_SIZE });
  const open = afterOpenOk(opening);
  assert.equal(open, { kind: 'open', frameMax: 65_536 });
  assert.equal(frameLimits(open, CAP), { frame: 65_536, hold: 65_536 });
});

test('a tune-ok before the broker\'s tune, or a second one, changes nothing', () => {
  const early = afterTuneOk(AWAITING_TUNE, 0xffffffff);
  assert.is(early.state, AWAITING_TUNE);
  assert.is(early.anomaly, 'tune_ok_unasked');
  assert.equal(frameLimits(early.state, CAP), { frame: PRE_TUNE_FRAME_LIMIT, hold: FRAME_MIN_SIZE });
  const opening = afterTuneOk(afterTune(AWAITING_TUNE, 131_072), 131_072).state;
  const again = afterTuneOk(opening, 0);
  assert.is(again.state, opening);
  assert.is(again.anomaly, 'tune_ok_unasked');
  // Nor does a second tune, or an open-ok before tune-ok.
  assert.is(afterTune(opening, 0), opening);
  const tuning = afterTune(AWAITING_TUNE, 4096);
  assert.is(afterOpenOk(tuning), tuning);
});

test('tune-ok frame_max is clamped to the broker\'s: 0 and 0xFFFFFFFF both become the broker\'s value', () => {
  const tuning = afterTune(AWAITING_TUNE, 131_072);
  for (const asked of [0, 0xffffffff, 131_073]) {
    const { state, anomaly } = afterTuneOk(tuning, asked);
    assert.equal(state, { kind: 'opening', frameMax: 131_072 }, String(asked));
    assert.is(anomaly, 'frame_max_above_broker');
    assert.equal(frameLimits(afterOpenOk(state), CAP), { frame: 131_072, hold: 131_072 });
  }
});

test('frame_max 0 on both sides: no frame limit, held frames up to the cap', () => {
  assert.is(negotiatedFrameMax(0, 0), 0);
  assert.is(negotiatedFrameMax(0, 8192), 8192);
  assert.is(negotiatedFrameMax(8192, 0), 8192);
  const open: Handshake = afterOpenOk(afterTuneOk(afterTune(AWAITING_TUNE, 0), 0).state);
  assert.equal(frameLimits(open, CAP), { frame: Infinity, hold: CAP });
  assert.equal(frameLimits({ kind: 'open', frameMax: 8 * CAP }, CAP), { frame: 8 * CAP, hold: CAP });
});

test.run();
