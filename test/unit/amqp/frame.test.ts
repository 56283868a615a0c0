import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_BODY, FRAME_END, FRAME_HEARTBEAT, FRAME_METHOD } from '../../../src/amqp/constants';
import { encodeFrame, readFrameHead } from '../../../src/amqp/frame';
import { amqplibFrame } from '../../support/amqpVectors';

test('readFrameHead reads type, channel and size', () => {
  const bytes = Buffer.from([FRAME_METHOD, 0x01, 0x02, 0x00, 0x01, 0x00, 0x03, 0xaa]);
  assert.equal(readFrameHead(bytes, 0), { type: FRAME_METHOD, channel: 0x0102, size: 0x00010003 });
});

test('readFrameHead reads at an offset inside a larger chunk', () => {
  const bytes = Buffer.from([0xff, 0xff, FRAME_BODY, 0xff, 0xfe, 0x7f, 0xff, 0xff, 0xff]);
  assert.equal(readFrameHead(bytes, 2), { type: FRAME_BODY, channel: 0xfffe, size: 0x7fffffff });
});

test('readFrameHead returns undefined with fewer than 7 bytes', () => {
  const head = Buffer.from([FRAME_METHOD, 0, 1, 0, 0, 0, 4]);
  for (let length = 0; length < 7; length++) {
    assert.is(readFrameHead(head.subarray(0, length), 0), undefined, `${length} bytes`);
  }
  const chunk = Buffer.concat([Buffer.alloc(10), head.subarray(0, 6)]);
  assert.is(readFrameHead(chunk, 10), undefined);
  assert.ok(readFrameHead(Buffer.concat([chunk, Buffer.from([4])]), 10));
});

test('encodeFrame round trips through readFrameHead and amqplib parseFrame', () => {
  const payload = Buffer.from('some body bytes');
  const frame = encodeFrame(FRAME_BODY, 7, payload);
  assert.is(frame.length, payload.length + 8);
  assert.equal(readFrameHead(frame, 0), { type: FRAME_BODY, channel: 7, size: payload.length });
  assert.ok(frame.subarray(7, 7 + payload.length).equals(payload));
  assert.is(frame[frame.length - 1], FRAME_END);

  const parsed = amqplibFrame.parseFrame(frame);
  assert.ok(parsed);
  if (parsed) {
    assert.equal([parsed.type, parsed.channel, parsed.size], [FRAME_BODY, 7, payload.length]);
    assert.ok(parsed.payload.equals(payload));
    assert.is(parsed.rest.length, 0);
  }
});

test('encodeFrame with an empty payload is a heartbeat', () => {
  assert.ok(encodeFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0)).equals(amqplibFrame.HEARTBEAT_BUF));
});

test.run();
