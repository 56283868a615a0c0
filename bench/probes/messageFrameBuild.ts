/**
 * Instructions of one delivery's two MessageFrame builds (issue 24): a content header read
 * into a MessageFrame and kept as an outcome record's copy (retain), in a loop, with no
 * broker, sockets or tracer around it. Run under callgrind at two counts; the difference of
 * the totals divided by the difference of the counts is the cost of one build + retain,
 * start-up cancelled:
 *
 *   valgrind --tool=callgrind --smc-check=all node --single-threaded -r tsx/cjs \
 *     bench/probes/messageFrameBuild.ts DIST COUNT [build]  # DIST: a build's dist/, COUNT: 200000, 600000
 *
 * With `build`, only the MessageFrame is made (no retain): the two runs' difference is the copy's cost.
 * The header: content-type and an empty headers table, as small as a header with a table gets.
 */
import * as path from 'node:path';

const dist = path.resolve(process.argv[2] ?? path.join(__dirname, '../../dist'));
const count = Number(process.argv[3] ?? 200_000);
const retain = process.argv[4] !== 'build';
const { MessageFrame } = require(path.join(dist, 'trace/amqp091/messageView')) as typeof import('../../src/trace/amqp091/messageView');

// class 60, weight 0, body size 10, flags content-type + headers, "abcd", a table of 0 bytes.
const payload = Buffer.from([0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0xa0, 0x00, 4, 0x61, 0x62, 0x63, 0x64, 0, 0, 0, 0]);
let sink = 0;
for (let i = 0; i < count; i++) {
  const message = new MessageFrame(1, payload, 0);
  const kept = retain ? message.retain(16384)! : message;
  sink += kept.bodySize + (message.headers.traceContext === undefined ? 1 : 0);
}
console.log(`${count} builds${retain ? ' + retains' : ''} (${sink})`);
