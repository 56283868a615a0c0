import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../../src/config/config';
import { configProblems } from '../../support/config';


test('hardening defaults: no connection limit, 10 s handshake timeout, no idle timeout, plain listener', () => {
  const c = loadConfig([], {});
  assert.is(c.maxConnections, 0);
  assert.is(c.handshakeTimeoutMs, 10_000);
  assert.is(c.idleTimeoutMs, 0);
  assert.is(c.tlsCert, undefined);
  assert.is(c.upstreamTlsInsecure, false);
  assert.is(c.upstreamRetryAfterMs, 10_000);
});

test('TLS options that do not fit together are all listed', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-cfg-'));
  try {
    const file = path.join(dir, 'x.pem');
    writeFileSync(file, 'not a certificate');
    const found = configProblems(['--tls-key', file, '--upstream-tls-key', file], { PROXY_TLS_CLIENT_CA: file, PROXY_MAX_CONNECTIONS: '-1' });
    assert.ok(found.some((p) => p.includes('--tls-key (PROXY_TLS_KEY) is set but --tls-cert')), found.join('\n'));
    assert.ok(found.some((p) => p.includes('--tls-client-ca (PROXY_TLS_CLIENT_CA) needs --tls-cert')), found.join('\n'));
    assert.ok(found.some((p) => p.includes('--upstream-tls-key (PROXY_UPSTREAM_TLS_KEY) is set but --upstream-tls-cert')));
    assert.ok(found.some((p) => p.includes('no upstream URL is amqps://')));
    assert.ok(found.some((p) => p.startsWith('PROXY_MAX_CONNECTIONS')));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('unreadable and unusable certificate files are problems, not crashes at startup', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-cfg-'));
  try {
    const junk = path.join(dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    assert.ok(configProblems(['--tls-cert', path.join(dir, 'missing.pem'), '--tls-key', junk])
      .some((p) => /--tls-cert: cannot read .*missing.pem" \(ENOENT\)/.test(p)));
    const unusable = configProblems(['--tls-cert', junk, '--tls-key', junk]);
    assert.is(unusable.length, 1, unusable.join('\n'));
    assert.match(unusable[0]!, /^--tls-cert\/--tls-key: /);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test.run();
