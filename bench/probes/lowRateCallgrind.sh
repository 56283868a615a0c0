#!/bin/bash
# Instructions per message of one middle hop at a low rate (issue 24), under callgrind:
# the process starts with instrumentation off, takes WARM messages (COUNT RATE) to get past
# V8's tiering, then counts A and B messages at RATE_LOW msg/s in two dumps; the difference
# of the dumps divided by B - A is its instructions per message, start-up and the batches'
# fixed cost cancelled. bench/probes/lowRate.ts is the client; the target must listen on PORT.
#
#   PORT=5791 bench/probes/lowRateCallgrind.sh OUTDIR '4000 100' 20 100 300 -- \
#     node --single-threaded --perf-basic-prof dist/main.js        # with the proxy's env set
#
# --single-threaded keeps V8's compiler on the measured thread (the counts repeat); with
# --perf-basic-prof, /tmp/perf-<pid>.map names the JIT code's addresses in the dumps.
set -euo pipefail
OUT=$1; WARM=$2; RATE_LOW=$3; A=$4; B=$5; shift 6
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
valgrind --tool=callgrind --smc-check=all --instr-atstart=no --callgrind-out-file="$OUT/cg.%p" "$@" > "$OUT/target.log" 2>&1 &
VPID=$!
for _ in $(seq 1 600); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.5; done
rm -f "$OUT/in"; mkfifo "$OUT/in"
(cd "$HERE/../.." && npx tsx bench/probes/lowRate.ts "$PORT" "$RATE_LOW" < "$OUT/in" > "$OUT/client.log" 2>&1) &
exec 3> "$OUT/in"
waitfor() { until [ "$(grep -c "$1" "$OUT/client.log" || true)" -ge "$2" ]; do sleep 0.5; done; }
waitfor ready 1
echo "$WARM" >&3; waitfor done 1
callgrind_control -i on "$VPID" > /dev/null; callgrind_control -z "$VPID" > /dev/null
echo "$A" >&3; waitfor done 2; callgrind_control -d a "$VPID" > /dev/null
echo "$B" >&3; waitfor done 3; callgrind_control -d b "$VPID" > /dev/null
echo quit >&3; exec 3>&-
sleep 1; kill "$VPID"; wait "$VPID" 2> /dev/null || true
a=$(grep -h '^summary' "$OUT"/cg.*.1 | awk '{print $2}'); b=$(grep -h '^summary' "$OUT"/cg.*.2 | awk '{print $2}')
echo "instructions: $A messages $a, $B messages $b; per message $(( (b - a) / (B - A) ))"
