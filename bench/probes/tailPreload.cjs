/*
 * Loaded with `node -r` into a middle hop by tailTrace.ts (issue 24's tail): records, on
 * process.hrtime's clock (CLOCK_MONOTONIC, shared by every process on the host), each
 * garbage collection (start, duration, kind) and, in the proxy, each export's serializing
 * slices and its send's synchronous part, and every socket 'data' handler over 0.2 ms
 * (TAIL_BURN_US: see below), and when each of the probe's messages passed through a handler. SIGUSR2 writes what was recorded since the last
 * signal to TAIL_TRACE_FILE as JSON and starts afresh. Plain CommonJS: the proxy's dist/
 * runs without a TypeScript loader.
 */
'use strict';
const { PerformanceObserver, performance } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const file = process.env.TAIL_TRACE_FILE;
// performance.now() and process.hrtime share one origin up to this constant, in ms.
const offsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
let events = [];

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) events.push({ what: `gc${e.detail ? e.detail.kind : ''}`, at: e.startTime + offsetMs, ms: e.duration });
}).observe({ entryTypes: ['gc'] });

// Socket 'data' handlers that ran longer than 0.2 ms (the middle hop's work on one chunk).
const net = require('node:net');
const emit = net.Socket.prototype.emit;
// The probe's messages carry process.hrtime (ns) in their body's first 8 bytes, and their
// body frames are 1024 bytes: type 3, channel, size 00 00 04 00. Each body frame that passes
// through a handler is noted as (stamp, handler start, handler duration): its first pass is
// the publish on its way to the broker, its second the delivery on its way to the consumer.
let passes = [];
const BODY_SIZE = Buffer.from([0, 0, 4, 0]);
function stampsIn(chunk) {
  const found = [];
  if (!Buffer.isBuffer(chunk)) return found;
  for (let i = chunk.indexOf(BODY_SIZE, 3); i >= 0 && i + 12 <= chunk.length; i = chunk.indexOf(BODY_SIZE, i + 1)) {
    if (chunk[i - 3] !== 3) continue;
    const ns = Number(chunk.readBigUInt64BE(i + 4));
    if (Math.abs(ns / 1e6 - nowMs()) < 60000) found.push(ns / 1e6);
  }
  return found;
}

// TAIL_BURN_US spins that long in every 'data' handler first: a middle hop made as
// costly per chunk as another, to see whether its tail follows its CPU.
const burnMs = Number(process.env.TAIL_BURN_US || 0) / 1000;
net.Socket.prototype.emit = function (name, ...args) {
  if (name !== 'data') return emit.call(this, name, ...args);
  const at = nowMs();
  const cpu = process.cpuUsage();
  const stamps = stampsIn(args[0]);
  try {
    while (burnMs > 0 && nowMs() - at < burnMs);
    return emit.call(this, name, ...args);
  } finally {
    const ms = nowMs() - at;
    for (const stamp of stamps) passes.push(stamp, at, ms);
    if (ms > 0.2) {
      const used = process.cpuUsage(cpu);
      // cpuMs: the process's CPU meanwhile (all threads); far below ms means it waited.
      events.push({ what: 'data>0.2ms', at, ms, cpuMs: (used.user + used.system) / 1000 });
    }
  }
};

const dist = process.env.TAIL_DIST;
if (dist) {
  const mod = require(join(dist, 'trace', 'deferredExporter.js'));
  const Base = mod.DeferredExporter;
  const timed = (what, fn) =>
    function (...args) {
      const at = nowMs();
      try {
        return fn.apply(this, args);
      } finally {
        events.push({ what, at, ms: nowMs() - at });
      }
    };
  mod.DeferredExporter = class extends Base {
    constructor(sender, serialize, options) {
      // TAIL_SLICE: spans per serializing slice instead of the proxy's own (a number before
      // the exporter took an options object).
      const spans = Number(process.env.TAIL_SLICE);
      const slicing = !spans ? options : typeof options === 'object' ? { ...options, sliceSpans: spans, pacedSliceSpans: spans } : spans;
      super({ send: timed('send', sender.send.bind(sender)), forceFlush: () => sender.forceFlush(), shutdown: () => sender.shutdown() }, timed('slice', serialize), slicing);
    }
  };
}

process.on('SIGUSR2', () => {
  if (file) writeFileSync(file, JSON.stringify({ events, passes }));
  events = [];
  passes = [];
});
