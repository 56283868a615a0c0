/**
 * Files the proxy reads while it runs (mode file, admin token): regular files only, checked
 * at start-up, read without blocking. A FIFO is made with mkfifo; reading it the usual way
 * would block this test forever.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileRefused, readRegularFile } from '../../../src/config/files';
import { configProblems } from '../../support/config';

function inTempDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'atp-files-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('readRegularFile: a FIFO, a directory and an oversized file are refused with a code, never read', () => inTempDir((dir) => {
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  mkdirSync(join(dir, 'dir'));
  writeFileSync(join(dir, 'big'), 'x'.repeat(100));
  writeFileSync(join(dir, 'ok'), 'bypass\n');
  const code = (path: string): string => {
    try {
      readRegularFile(path, 10);
      return 'read';
    } catch (err) {
      return err instanceof FileRefused ? err.code : String(err);
    }
  };
  assert.equal([code(join(dir, 'fifo')), code(join(dir, 'dir')), code(join(dir, 'big')), code(join(dir, 'missing'))],
    ['ENOTREG', 'ENOTREG', 'EFBIG', 'ENOENT']);
  assert.is(readRegularFile(join(dir, 'ok'), 10), 'bypass\n');
}));

test('a mode file that is a FIFO is a configuration error; a missing one is not (it changes nothing until it appears)', () => inTempDir((dir) => {
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  assert.equal(configProblems(['--mode-file', join(dir, 'fifo')]), [`--mode-file: "${join(dir, 'fifo')}" is a FIFO; a regular file is expected`]);
  assert.equal(configProblems(['--mode-file', join(dir, 'missing')]), []);
}));

test('an admin token file must be a readable, non-empty regular file', () => inTempDir((dir) => {
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  writeFileSync(join(dir, 'empty'), ' \n');
  writeFileSync(join(dir, 'token'), 'abc\n');
  assert.equal(configProblems(['--admin-token-file', join(dir, 'fifo')]), [`--admin-token-file: "${join(dir, 'fifo')}" is a FIFO; a regular file is expected`]);
  assert.equal(configProblems(['--admin-token-file', join(dir, 'empty')]), [`--admin-token-file: "${join(dir, 'empty')}" is empty`]);
  assert.equal(configProblems(['--admin-token-file', join(dir, 'missing')]), [`--admin-token-file: "${join(dir, 'missing')}" cannot be read (ENOENT)`]);
  assert.equal(configProblems(['--admin-token-file', join(dir, 'token')]), []);
}));

test.run();
