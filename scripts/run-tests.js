#!/usr/bin/env node
// Runs the unit tests, then the benchmark harness's tests, then the integration tests against
// the host's RabbitMQ, then the core transparency and tracing suites again against a RabbitMQ
// 4.0 container, then the container tests (test/docker: the image, compose, the webhook), and
// ends with one summary line ("N passed, N failed") that CI can read whatever runner printed
// above it. Each runner's output is passed through as it is written (uvu prints a line per
// test file with a mark per test), so a long suite shows its progress while it runs.
// `node scripts/run-tests.js docker` runs only the last two (make test-docker).
const { execFileSync, spawn } = require('node:child_process');

const RABBITMQ4_IMAGE = 'atp-local/rabbitmq:4.0';
const LINGER_MS = 60_000;

/** dir, an optional uvu file pattern, and the broker the suite's test support talks to. */
const SUITES = [
  { dir: 'test/unit' },
  { dir: 'bench/test' },
  { dir: 'test/integration' },
  // The suites that pin down transparency and tracing, parametrised by test/support/broker.ts;
  // the hostile-frame corpus compares the proxy with the broker it fronts, whichever that is.
  { dir: 'test/integration', pattern: '^(proxy|spans|returns|publish-stamp|clients|adversarial/corpus)\\.test\\.ts$', broker: 'rabbitmq4', docker: true },
  { dir: 'test/docker', pattern: '\\.test\\.ts$', docker: true },
];

/** Runs one uvu directory, echoing its stdout live; resolves with that stdout and the exit status. */
function runSuite({ dir, pattern }, env) {
  return new Promise((resolve) => {
    const args = ['uvu', '-r', 'tsx/cjs', dir, ...(pattern ? [pattern] : [])];
    const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let out = '';
    let watchdog;
    let lingered = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
      // uvu ends when nothing is left on the event loop; a handle a test forgot would keep it
      // (and make test) waiting for ever once every result is in.
      if (!watchdog && /Duration:/.test(out)) {
        watchdog = setTimeout(() => {
          console.log(`== ${dir}: uvu had not exited ${LINGER_MS / 1000} s after its summary (a test left a handle open); stopping it`);
          lingered = true;
          child.kill('SIGKILL');
        }, LINGER_MS);
      }
    });
    child.on('close', (status) => {
      clearTimeout(watchdog);
      resolve({ out, status: lingered ? 0 : status });
    });
  });
}

/**
 * A RabbitMQ 4.0 container on an ephemeral 127.0.0.1 port, healthy, labelled with this
 * process's pid (test/support/docker.ts removes it if this run dies first).
 */
function startRabbitMq4() {
  const name = `atp-test-rabbitmq4-${process.pid}`;
  const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
  docker('run', '-d', '--name', name, '--label', `io.amqp-trace-proxy.test=${process.pid}`, '-p', '127.0.0.1::5672', RABBITMQ4_IMAGE);
  const deadline = Date.now() + 90_000;
  while (docker('inspect', '--format', '{{.State.Health.Status}}', name) !== 'healthy') {
    if (Date.now() > deadline) throw new Error(`${name} did not become healthy:\n${docker('logs', '--tail', '30', name)}`);
    execFileSync('sleep', ['0.5']);
  }
  const port = docker('port', name, '5672/tcp').split('\n')[0].split(':').pop();
  return { env: { TEST_BROKER_HOST: '127.0.0.1', TEST_BROKER_PORT: port }, stop: () => docker('rm', '-f', '-v', name) };
}

const label = (suite) => `${suite.dir}${suite.pattern ? ` ${suite.pattern}` : ''}${suite.broker ? ` on RabbitMQ 4.0 (${RABBITMQ4_IMAGE})` : ''}`;

async function main() {
  const dockerOnly = process.argv[2] === 'docker';
  let passed = 0;
  let failed = 0;
  for (const suite of SUITES.filter((s) => !dockerOnly || s.docker)) {
    const started = Date.now();
    const dir = label(suite);
    console.log(`\n== ${dir}`);
    let broker;
    try {
      broker = suite.broker ? startRabbitMq4() : undefined;
    } catch (err) {
      console.log(`== ${dir}: could not start the broker: ${err.message}`);
      failed += 1;
      continue;
    }
    const run = await runSuite(suite, broker?.env);
    broker?.stop();
    // uvu's own summary: "Total: N", "Passed: N" (with colour codes around the numbers).
    const plain = run.out.replace(/\x1b\[[0-9;]*m/g, '');
    const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
    const ok = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
    passed += ok;
    failed += total - ok;
    if (run.status !== 0 && total === ok) failed += 1; // crashed before or after its tests
    console.log(`== ${dir}: ${ok} of ${total} passed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main();
