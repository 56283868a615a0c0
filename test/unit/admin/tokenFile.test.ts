import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TokenFile } from '../../../src/admin/tokenFile';
import { readRegularFile } from '../../../src/config/files';

function tokenFile(content: string): { file: string; reads: () => number; token: TokenFile; done(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-token-'));
  const file = path.join(dir, 'token');
  writeFileSync(file, content);
  let reads = 0;
  const token = new TokenFile(file, (p, max) => {
    reads++;
    return readRegularFile(p, max);
  });
  return { file, reads: () => reads, token, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('the token is read once, not at every request, and again when the file changes', async () => {
  const t = tokenFile('first-token\n');
  try {
    for (let i = 0; i < 10; i++) assert.ok(await t.token.matches('Bearer first-token'));
    assert.not.ok(await t.token.matches('Bearer wrong'));
    assert.is(t.reads(), 1, 'read once for eleven requests');

    writeFileSync(t.file, 'second-token-longer\n');
    assert.ok(await t.token.matches('Bearer second-token-longer'), 'a rotated token applies at the next request');
    assert.not.ok(await t.token.matches('Bearer first-token'));
    assert.is(t.reads(), 2);

    // Same size, new content: the mtime tells.
    writeFileSync(t.file, 'third-token-same-len\n'.slice(0, 20));
    utimesSync(t.file, new Date(), new Date(Date.now() + 5000));
    assert.ok(await t.token.matches(`Bearer ${'third-token-same-len'.slice(0, 20).trim()}`));
    assert.is(t.reads(), 3);
  } finally {
    t.done();
  }
});

test('a missing, empty or unreadable token file matches nothing, and a header without a bearer token neither', async () => {
  const t = tokenFile('  \n');
  try {
    assert.not.ok(await t.token.matches('Bearer '), 'empty');
    assert.not.ok(await t.token.matches(undefined));
    writeFileSync(t.file, 'tok');
    assert.not.ok(await t.token.matches('Basic tok'));
    assert.ok(await t.token.matches('bearer tok'));
    rmSync(t.file);
    assert.not.ok(await t.token.matches('Bearer tok'), 'missing');
  } finally {
    t.done();
  }
});

test.run();
