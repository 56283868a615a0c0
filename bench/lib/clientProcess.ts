/**
 * The harness's handle on one client process (bench/client.ts, compiled): send it
 * commands, await its next message of a given type, and fail fast if it reports an error
 * or dies.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { forkScript, head, stopChild } from './children';
import type { ClientJob, FromClient, ToClient } from './protocol';

/** What a target asks of the client processes themselves (in-process tracing: a preload and its settings). */
export interface ClientRuntime {
  execArgv: string[];
  env: Record<string, string>;
}

const NO_RUNTIME: ClientRuntime = { execArgv: [], env: {} };

type Waiter = { type: FromClient['type']; resolve: (m: FromClient) => void; reject: (e: Error) => void };

export class ClientProcess {
  private readonly waiters: Waiter[] = [];
  private readonly early: FromClient[] = [];
  private failure: Error | undefined;
  private readonly listeners = new Map<FromClient['type'], (m: FromClient) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
    private readonly logFile: string,
  ) {
    child.on('message', (m: FromClient) => this.onMessage(m));
    child.once('exit', (code, signal) => {
      if (code !== 0) this.fail(new Error(`${this.name} exited (${code ?? signal})${this.output()}`));
      else this.fail(new Error(`${this.name} exited before it was asked to`));
    });
  }

  static start(buildDir: string, runDir: string, name: string, job: ClientJob, runtime: ClientRuntime = NO_RUNTIME): ClientProcess {
    const logFile = join(runDir, `${name}.log`);
    const client = new ClientProcess(forkScript(join(buildDir, 'client.js'), [], logFile, runtime.execArgv, runtime.env), name, logFile);
    client.send({ type: 'job', job });
    return client;
  }

  private output(): string {
    const text = head(this.logFile, 300).replace(/\s+/g, ' ');
    return text ? `; output: ${text}` : '';
  }

  private onMessage(m: FromClient): void {
    if (m.type === 'error') {
      this.fail(new Error(`${this.name}: ${m.message}`));
      return;
    }
    this.listeners.get(m.type)?.(m);
    const i = this.waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m);
    else if (!this.listeners.has(m.type)) this.early.push(m);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }

  send(m: ToClient): void {
    if (this.child.connected) this.child.send(m);
  }

  /** Every message of this type goes to `handler` instead of waiting in line. */
  on<T extends FromClient['type']>(type: T, handler: (m: Extract<FromClient, { type: T }>) => void): void {
    this.listeners.set(type, handler as (m: FromClient) => void);
  }

  next<T extends FromClient['type']>(type: T): Promise<Extract<FromClient, { type: T }>> {
    const i = this.early.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.early.splice(i, 1)[0] as Extract<FromClient, { type: T }>);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.push({ type, resolve: resolve as (m: FromClient) => void, reject });
    });
  }

  /** Ask it to close its connections and exit; kill it if that takes too long. */
  async stop(graceMs = 15000): Promise<void> {
    this.failure ??= new Error(`${this.name} stopped`);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => void stopChild(this.child, 1000), graceMs);
    await gone;
    clearTimeout(timer);
  }
}
