/**
 * F13 of issue 21: the mode file was read with readFileSync, so a FIFO at its path blocked
 * start-up (and with it SIGTERM handling) until something wrote to the pipe. A real FIFO,
 * made with mkfifo, at start-up and put in place of the file while the proxy runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requireBroker } from '../../support/broker';
import { builtProxy, waitFor } from '../hardening/helpers';
import { startHttpProxy, stopChild } from './httpPeers';

const modeFile = suite('adversarial: mode file');

let dir = '';
modeFile.before.each(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'atp-mode-'));
});
modeFile.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

modeFile('a FIFO as the mode file is a configuration error at once (exit 2), not a start-up that hangs', async () => {
  await requireBroker();
  const fifo = path.join(dir, 'mode');
  execFileSync('mkfifo', [fifo]);
  const child = spawn(process.execPath, [builtProxy()], {
    env: { PATH: process.env.PATH ?? '', PROXY_LISTEN: '127.0.0.1:0', METRICS_LISTEN: 'off', ADMIN_LISTEN: 'off',
      OTEL_TRACES_EXPORTER: 'none', PROXY_MODE_FILE: fifo },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  assert.is(code, 2, `exit ${code} (null: killed after hanging 10 s); stderr:\n${stderr}`);
  assert.match(stderr, `PROXY_MODE_FILE: "${fifo}" is a FIFO; a regular file is expected`);
});

modeFile('a FIFO put in place of the mode file while the proxy runs is refused unread; SIGTERM still stops the proxy', async () => {
  await requireBroker();
  const file = path.join(dir, 'mode');
  writeFileSync(file, 'tracing\n');
  const proxy = await startHttpProxy({ PROXY_MODE_FILE: file, DRAIN_TIMEOUT_MS: '0' });
  try {
    unlinkSync(file);
    execFileSync('mkfifo', [file]);
    await waitFor('the warning about the FIFO', () => proxy.output().split('\n').some((l) => l.includes('mode file unreadable') && l.includes('"code":"ENOTREG"')), 10_000);
    proxy.process.kill('SIGTERM');
    const timer = setTimeout(() => proxy.process.kill('SIGKILL'), 10_000);
    const { code, signal } = await proxy.exited;
    clearTimeout(timer);
    assert.equal({ code, signal }, { code: 0, signal: null }, proxy.output());
  } finally {
    await stopChild(proxy.process);
  }
});

modeFile.run();
