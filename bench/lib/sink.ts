/** The harness's handle on the OTLP sink process (bench/otlpSink.ts, compiled). */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { forkScript, stopChild, tail } from './children';
import type { SinkStats } from '../otlpSink';

export class SinkHandle {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(buildDir: string, runDir: string): Promise<SinkHandle> {
    const logFile = join(runDir, 'otlp-sink.log');
    const child = forkScript(join(buildDir, 'otlpSink.js'), [], logFile);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('OTLP sink did not start in 10 s')), 10000);
      child.on('message', (m: { type: string; port?: number }) => {
        if (m.type === 'listening' && typeof m.port === 'number') {
          clearTimeout(timer);
          resolve(m.port);
        }
      });
      child.once('exit', (code) => reject(new Error(`OTLP sink exited (${code}): ${tail(logFile)}`)));
    });
    return new SinkHandle(child, port);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  stats(): Promise<SinkStats> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('OTLP sink did not answer')), 5000);
      const onMessage = (m: { type: string; stats?: SinkStats }): void => {
        if (m.type !== 'stats' || !m.stats) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(m.stats);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'stats' });
    });
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}
