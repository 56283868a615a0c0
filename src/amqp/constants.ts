/**
 * AMQP 0-9-1 wire constants (amqp0-9-1.xml, RabbitMQ's edition).
 *
 * General frame format (spec 4.2.3):
 *
 *   0      1         3             7                  size+7 size+8
 *   +------+---------+-------------+  +------------+  +-----------+
 *   | type | channel |    size     |  |  payload   |  | frame-end |
 *   +------+---------+-------------+  +------------+  +-----------+
 *    octet   short       long          size octets       0xCE
 */

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;
/** type + channel + size */
export const FRAME_HEADER_SIZE = 7;
/** frame header + frame-end octet; `frame_max` counts these too (RabbitMQ's ?FRAME_OVERHEAD). */
export const FRAME_OVERHEAD = 8;

/** "AMQP" 0 0 9 1 */
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01]);
export const PROTOCOL_HEADER_SIZE = 8;

/**
 * What an 8-byte protocol header that is not AMQP 0-9-1's says it is, for the log. AMQP 1.0
 * (OASIS, part 2.2 and 5.1/5.2) sends "AMQP" then a protocol id (0 AMQP, 2 TLS, 3 SASL) and
 * version 1.0.0; RabbitMQ 4 serves it on the 0-9-1 port, so such clients do arrive here.
 */
export function describeProtocolHeader(header: Buffer): string {
  if (header.length < PROTOCOL_HEADER_SIZE || header.toString('latin1', 0, 4) !== 'AMQP') return 'not AMQP';
  const [id, major, minor, revision] = [header[4], header[5], header[6], header[7]];
  if (major === 1 && minor === 0 && revision === 0) {
    const layer = id === 0 ? '' : id === 2 ? ', TLS layer' : id === 3 ? ', SASL layer' : `, protocol id ${id}`;
    return `AMQP 1.0${layer}`;
  }
  return `AMQP protocol id ${id} version ${major}-${minor}-${revision}, not 0-9-1`;
}

/** One switchable key per method: (classId << 16) | methodId. */
export function methodKey(classId: number, methodId: number): number {
  return (classId << 16) | methodId;
}

/** The methods the proxy looks inside; every other method travels as opaque bytes. */
export const Method = {
  ConnectionStart: methodKey(10, 10),
  ConnectionTune: methodKey(10, 30),
  ConnectionTuneOk: methodKey(10, 31),
  ConnectionOpen: methodKey(10, 40),
  ConnectionOpenOk: methodKey(10, 41),
  ConnectionClose: methodKey(10, 50),
  ConnectionCloseOk: methodKey(10, 51),
  ChannelOpen: methodKey(20, 10),
  ChannelClose: methodKey(20, 40),
  ChannelCloseOk: methodKey(20, 41),
  QueueDeclare: methodKey(50, 10),
  QueueDeclareOk: methodKey(50, 11),
  BasicConsume: methodKey(60, 20),
  BasicConsumeOk: methodKey(60, 21),
  BasicCancel: methodKey(60, 30),
  BasicCancelOk: methodKey(60, 31),
  BasicPublish: methodKey(60, 40),
  BasicReturn: methodKey(60, 50),
  BasicDeliver: methodKey(60, 60),
  BasicGet: methodKey(60, 70),
  BasicGetOk: methodKey(60, 71),
  BasicGetEmpty: methodKey(60, 72),
  BasicAck: methodKey(60, 80),
  BasicReject: methodKey(60, 90),
  BasicNack: methodKey(60, 120),
  ConfirmSelect: methodKey(85, 10),
  ConfirmSelectOk: methodKey(85, 11),
  TxSelect: methodKey(90, 10),
} as const;

/** Methods that are followed by a content header and zero or more body frames (spec 4.2.6). */
export const CONTENT_METHODS: ReadonlySet<number> = new Set([
  Method.BasicPublish,
  Method.BasicReturn,
  Method.BasicDeliver,
  Method.BasicGetOk,
]);

/** AMQP reply codes used at the proxy's edge (spec 1.9). */
export const ReplyCode = {
  ConnectionForced: 320,
  InternalError: 541,
} as const;

/** A shortstr's length is one octet (spec 4.2.5.3). */
export const SHORTSTR_MAX_BYTES = 255;
