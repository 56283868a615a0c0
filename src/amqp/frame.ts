import { FRAME_END, FRAME_HEADER_SIZE, FRAME_OVERHEAD } from './constants';

/** The 7-byte general frame header (spec 4.2.3); see the diagram in constants.ts. */
export type FrameHead = { type: number; channel: number; size: number };

/** Reads a frame header, or returns undefined when fewer than 7 bytes are buffered at `offset`. */
export function readFrameHead(buf: Buffer, offset: number): FrameHead | undefined {
  if (buf.length - offset < FRAME_HEADER_SIZE) {
    return undefined;
  }
  return {
    type: buf[offset],
    channel: buf.readUInt16BE(offset + 1),
    size: buf.readUInt32BE(offset + 3),
  };
}

/** Builds a whole frame: header, payload, frame-end octet. */
export function encodeFrame(type: number, channel: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(payload.length + FRAME_OVERHEAD);
  frame[0] = type;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(payload.length, 3);
  payload.copy(frame, FRAME_HEADER_SIZE);
  frame[FRAME_HEADER_SIZE + payload.length] = FRAME_END;
  return frame;
}
