/**
 * Every process the harness starts goes through here, so that one place can stop them all
 * on success, failure, Ctrl-C or an uncaught exception.
 */
import { fork, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';

const live = new Set<ChildProcess>();

/**
 * The environment for a child: the harness runs under tsx, whose loader must not ride
 * along into the processes being measured.
 */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (env['NODE_OPTIONS']?.includes('tsx')) delete env['NODE_OPTIONS'];
  // Scripts run from copies outside the work tree (see run.ts) find packages here.
  if (modulesDir) env['NODE_PATH'] = modulesDir;
  return env;
}

let modulesDir: string | undefined;

/** The node_modules that children compiled or copied outside the work tree resolve against. */
export function setModulesDir(dir: string): void {
  modulesDir = dir;
}

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** A compiled bench script with an IPC channel; it exits when the harness disconnects. */
export function forkScript(script: string, args: string[], logFile: string, execArgv: string[] = [], env: Record<string, string> = {}): ChildProcess {
  const log = openSync(logFile, 'a');
  const stdio: StdioOptions = ['ignore', log, log, 'ipc'];
  const child = fork(script, args, { execArgv, env: childEnv(env), stdio });
  closeSync(log);
  return track(child);
}

/** Any program, output appended to a log file (never a pipe the harness must drain). */
export function spawnLogged(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', log, log], ...(cwd ? { cwd } : {}) });
  closeSync(log);
  return track(child);
}

/** The start of a log: where a crashing Node process names its error. */
export function head(file: string, maxChars = 300): string {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  } catch {
    return '';
  }
}

export function tail(file: string, maxChars = 1500): string {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
  } catch {
    return '';
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

/** Last resort from a synchronous 'exit' handler: nothing can be awaited there. */
export function killAllNow(): void {
  for (const child of live) if (!exited(child)) child.kill('SIGKILL');
}

function tryConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until something accepts TCP connections on the port. Rejects early, with the
 * reason, if the process exits first.
 */
export async function waitForListening(child: ChildProcess, port: number, host: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited(child)) {
      throw new Error(`exited (${child.exitCode !== null ? `code ${child.exitCode}` : child.signalCode}) before listening on ${host}:${port}`);
    }
    if (await tryConnect(port, host)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not listening on ${host}:${port} after ${timeoutMs} ms`);
}

export function isRunning(child: ChildProcess): boolean {
  return !exited(child);
}
