/**
 * Reading a process's CPU time and memory from /proc (Linux only).
 *
 * CPU: /proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks, all threads of
 * the process together, so a Node process's GC helper threads and haproxy's threads are
 * counted. Ticks are coarse (10 ms at CLK_TCK=100), so the harness also sums
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds on CPU, live threads only) as a cross-check.
 *
 * Memory: /proc/<pid>/status VmRSS (now) and VmHWM (peak since start or since the last
 * write of "5" to /proc/<pid>/clear_refs).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clockTicks: number | undefined;

/** CLK_TCK from getconf; 100 on every Linux this harness is likely to see. */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface CpuSample {
  /** utime + stime from /proc/<pid>/stat, in microseconds (tick resolution). */
  statUs: number;
  /** Sum of schedstat over live threads, in microseconds; NaN when unavailable. */
  schedUs: number;
}

export function readCpu(pid: number): CpuSample | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is parenthesised and may contain spaces: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return { statUs: (ticks * 1e6) / clockTicksPerSecond(), schedUs: readSchedUs(pid) };
}

function readSchedUs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    return ns / 1000;
  } catch {
    return Number.NaN;
  }
}

export interface MemorySample {
  rssKb: number;
  hwmKb: number;
}

export function readMemory(pid: number): MemorySample | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : Number.NaN;
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

function pidsByComm(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // the process went away between readdir and read
    }
  }
  return pids;
}

/** Socket inodes listening on a TCP port, from /proc/net/tcp and tcp6 (state 0A is LISTEN). */
export function listeningInodes(port: number, tables: readonly string[]): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of tables) {
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  return inodes;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The pid of the process called `comm` that listens on `port`: the broker's Erlang VM, to
 * report the broker's CPU per message beside the target's. Several beam.smp processes can
 * run on a shared machine (other RabbitMQ nodes, Erlang tools), so the name alone is not
 * enough; undefined when none of them holds the listening socket.
 */
export function findPidListeningOn(comm: string, port: number): number | undefined {
  const inodes = listeningInodes(port, [readOr('/proc/net/tcp'), readOr('/proc/net/tcp6')]);
  if (inodes.size === 0) return undefined;
  for (const pid of pidsByComm(comm)) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return pid;
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

export interface MachineCpuSample {
  /** Ticks spent in processes (user, nice, system, steal). */
  busy: number;
  /** Ticks spent in interrupts and softirqs: loopback TCP is mostly here, charged to no process. */
  irq: number;
  total: number;
}

/** The machine's aggregate CPU counters (first line of /proc/stat), in ticks. */
export function readMachineCpu(): MachineCpuSample | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const busy = user + nice + system + steal;
    return { busy, irq: irq + softirq, total: busy + irq + softirq + idle + iowait };
  } catch {
    return undefined;
  }
}

/** The 1-minute load average (/proc/loadavg): how busy the shared machine was around a measurement. */
export function readLoadAverage(): number | undefined {
  try {
    const first = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    return Number.isFinite(first) ? first : undefined;
  } catch {
    return undefined;
  }
}
