/**
 * F9 of issue 21: redact() missed passwords holding `/` or `@` and token-only userinfo, and
 * those reached stderr and the start-up log. Named cases, as OpenTelemetry's traceparent
 * tests name theirs; each secret must be gone from the output.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../../src/config/config';
import { redact } from '../../../src/config/options';
import { configProblems } from '../../support/config';

const CASES: readonly { name: string; raw: string; redacted: string; secret?: string }[] = [
  { name: 'user and password', raw: 'amqp://guest:s3cret@rabbit/', redacted: 'amqp://guest:***@rabbit/', secret: 's3cret' },
  { name: 'a password with a slash', raw: 'amqp://app:pa/ss@rabbit:5672/vh', redacted: 'amqp://app:***@rabbit:5672/vh', secret: 'pa/ss' },
  { name: 'a password with an at sign', raw: 'amqps://app:p@ss@rabbit', redacted: 'amqps://app:***@rabbit', secret: 'p@ss' },
  { name: 'a password with both', raw: 'amqp://app:a/b@c/d@rabbit/', redacted: 'amqp://app:***@rabbit/', secret: 'a/b@c/d' },
  { name: 'a token as the user name', raw: 'amqp://tok3n-value@rabbit', redacted: 'amqp://***@rabbit', secret: 'tok3n-value' },
  { name: 'a token with a slash', raw: 'amqp://tok/en@rabbit', redacted: 'amqp://***@rabbit', secret: 'tok/en' },
  { name: 'a percent-encoded password', raw: 'amqp://app:pa%2Fss@rabbit', redacted: 'amqp://app:***@rabbit', secret: 'pa%2Fss' },
  { name: 'an empty password', raw: 'amqp://app:@rabbit', redacted: 'amqp://app:***@rabbit' },
  { name: 'no credentials', raw: 'amqp://rabbit:5672/vhost', redacted: 'amqp://rabbit:5672/vhost' },
  { name: 'a list of URLs, each with its own', raw: 'amqp://a:one@h1,amqp://b:two@h2', redacted: 'amqp://a:***@h1,amqp://b:***@h2', secret: 'one' },
  { name: 'kombu failover list', raw: 'amqp://a:x/y@h1;amqp://b@h2', redacted: 'amqp://a:***@h1;amqp://***@h2', secret: 'x/y' },
  { name: 'in a sentence, quoted', raw: '"amqp://u:pw@h" is not a URL', redacted: '"amqp://u:***@h" is not a URL', secret: 'pw' },
  { name: 'in a stack trace line', raw: 'Error: connect amqp://u:p/w@h failed\n    at x (y.js:1:2)', redacted: 'Error: connect amqp://u:***@h failed\n    at x (y.js:1:2)', secret: 'p/w' },
  { name: 'an OTLP endpoint with credentials', raw: 'https://user:key@collector:4317', redacted: 'https://user:***@collector:4317', secret: 'key' },
  { name: 'upper-case scheme', raw: 'AMQP://u:secret@h', redacted: 'AMQP://u:***@h', secret: 'secret' },
  { name: 'no URL at all', raw: 'user@example.com wrote', redacted: 'user@example.com wrote' },
];

for (const c of CASES) {
  test(`redact: ${c.name}`, () => {
    const out = redact(c.raw);
    assert.is(out, c.redacted);
    if (c.secret) assert.not.ok(out.includes(c.secret), `${c.secret} survived`);
    assert.is(redact(out), out, 'redacting twice changes nothing');
  });
}

test('configuration errors never carry the password of a malformed upstream URL', () => {
  for (const url of ['amqp://app:pa/ss@rabbit', 'amqp://app:12/ss@rabbit', 'amqp://tok/en@rabbit', 'ftp://app:p@ss@rabbit']) {
    const problems = configProblems(['--upstream', url]);
    assert.ok(problems.length > 0, `${url} was accepted`);
    const text = new ConfigError(problems).message;
    for (const secret of ['pa/ss', '12/ss', 'tok/en', 'p@ss']) assert.not.ok(text.includes(secret), `${secret} in: ${text}`);
  }
});

test.run();
