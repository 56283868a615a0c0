import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { parseUpstreamAnnotation, pointAtSidecar, type RewriteRefusal } from '../../../src/webhook/brokerUrl';

const SIDECAR = { host: '127.0.0.1', port: 5673 };

const REWRITES: [string, string, string, string[]][] = [
  ['no credentials, no vhost', 'amqp://rabbitmq', 'amqp://127.0.0.1:5673', ['amqp://rabbitmq:5672']],
  ['credentials and default vhost', 'amqp://guest:guest@rabbitmq:5672/', 'amqp://guest:guest@127.0.0.1:5673/', ['amqp://rabbitmq:5672']],
  ['celery "//" vhost', 'amqp://guest:guest@rabbitmq:5672//', 'amqp://guest:guest@127.0.0.1:5673//', ['amqp://rabbitmq:5672']],
  ['user only', 'amqp://guest@mq//', 'amqp://guest@127.0.0.1:5673//', ['amqp://mq:5672']],
  ['encoded userinfo, vhost and query kept byte for byte', 'amqp://a%40b:c%2Fd@mq:5672/v%2Fh?heartbeat=10&frame_max=131072', 'amqp://a%40b:c%2Fd@127.0.0.1:5673/v%2Fh?heartbeat=10&frame_max=131072', ['amqp://mq:5672']],
  ['$(VAR) credentials stay for the kubelet to expand', 'amqp://$(MQ_USER):$(MQ_PASS)@mq:5672/', 'amqp://$(MQ_USER):$(MQ_PASS)@127.0.0.1:5673/', ['amqp://mq:5672']],
  ['amqps default port', 'amqps://u:p@mq.example.com/prod', 'amqp://u:p@127.0.0.1:5673/prod', ['amqps://mq.example.com:5671']],
  ['amqps explicit port', 'amqps://mq:15671', 'amqp://127.0.0.1:5673', ['amqps://mq:15671']],
  ['pyamqp keeps its scheme for kombu', 'pyamqp://u:p@mq:5672//', 'pyamqp://u:p@127.0.0.1:5673//', ['amqp://mq:5672']],
  ['host is lower-cased for the upstream only', 'amqp://MQ.Example:5672', 'amqp://127.0.0.1:5673', ['amqp://mq.example:5672']],
  ['IPv6 broker', 'amqp://u:p@[fd00::12]:5672/', 'amqp://u:p@127.0.0.1:5673/', ['amqp://[fd00::12]:5672']],
  ['failover list, duplicates folded', 'amqp://mq-0:5672//;amqp://mq-1:5672//;amqp://mq-0:5672//', 'amqp://127.0.0.1:5673//;amqp://127.0.0.1:5673//;amqp://127.0.0.1:5673//', ['amqp://mq-0:5672', 'amqp://mq-1:5672']],
];

for (const [name, input, app, upstreams] of REWRITES) {
  test(`rewrites: ${name}`, () => {
    const r = pointAtSidecar(input, SIDECAR);
    assert.ok(r.ok, JSON.stringify(r));
    if (!r.ok) return;
    assert.is(r.appValue, app);
    assert.equal(r.upstreams, upstreams);
  });
}

test('rewrites to ::1 with brackets', () => {
  const r = pointAtSidecar('amqp://u:p@mq:5672/', { host: '::1', port: 5673 });
  assert.equal(r, { ok: true, appValue: 'amqp://u:p@[::1]:5673/', upstreams: ['amqp://mq:5672'] });
});

const REFUSED: [string, string, RewriteRefusal][] = [
  ['another scheme', 'redis://cache:6379/0', 'not-an-amqp-url'],
  ['no scheme', 'rabbitmq:5672', 'not-an-amqp-url'],
  ['port out of range', 'amqp://mq:70000/', 'not-an-amqp-url'],
  ['port zero', 'amqp://mq:0/', 'not-an-amqp-url'],
  ['unencoded @ in the password', 'amqp://u:p@ss@mq:5672/', 'not-an-amqp-url'],
  ['unencoded / in a numeric password (would read as host u, port 12)', 'amqp://u:12/ss@mq:5672/', 'not-an-amqp-url'],
  ['leading space', ' amqp://mq:5672', 'not-an-amqp-url'],
  ['port is a variable', 'amqp://mq:$(MQ_PORT)/', 'not-an-amqp-url'],
  ['one bad entry spoils a list', 'amqp://mq-0:5672;redis://x', 'not-an-amqp-url'],
  ['empty host', 'amqp:///vhost', 'no-host'],
  ['host is a variable', 'amqp://u:p@$(MQ_HOST):5672/', 'host-is-a-variable'],
  ['already at the sidecar', 'amqp://u:p@127.0.0.1:5673/', 'already-points-at-sidecar'],
  ['already at the sidecar via localhost', 'amqp://u:p@localhost:5673/', 'already-points-at-sidecar'],
];

for (const [name, input, reason] of REFUSED) {
  test(`refuses: ${name}`, () => {
    assert.equal(pointAtSidecar(input, SIDECAR), { ok: false, reason });
  });
}

test('upstream annotation: host lists without credentials, vhost or query', () => {
  assert.equal(parseUpstreamAnnotation('amqps://mq:5671'), ['amqps://mq:5671']);
  assert.equal(parseUpstreamAnnotation('amqp://MQ-0, amqp://mq-1:5673/'), ['amqp://mq-0:5672', 'amqp://mq-1:5673']);
  for (const bad of ['amqp://u:p@mq:5672', 'amqp://mq:5672/vhost', 'amqp://mq?heartbeat=1', 'pyamqp://mq', 'mq:5672', '', 'amqp://mq:99999']) {
    assert.is(parseUpstreamAnnotation(bad), undefined, bad);
  }
});

test.run();
