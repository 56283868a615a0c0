/**
 * The container tests' side of Docker: the images `scripts/docker/build-images.sh` builds,
 * a `docker` CLI wrapper, and containers and networks that are labelled, so that whatever a
 * crashed run left behind is removed by the next one (`removeLeftovers`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { REPO_ROOT } from './dockerfileSteps';
import { sleep } from './wait';

const execFileP = promisify(execFile);

/**
 * The tag scripts/docker/build-images.sh gives the project's images: one per checkout, so
 * worktrees testing at once on one machine never run each other's builds.
 */
export const IMAGE_TAG = `checkout-${createHash('sha1').update(realpathSync(REPO_ROOT)).digest('hex').slice(0, 10)}`;

export const IMAGES = {
  proxy: `amqp-trace-proxy:${IMAGE_TAG}`,
  gateway: `amqp-trace-proxy-demo:${IMAGE_TAG}`,
  worker: `amqp-trace-proxy-worker:${IMAGE_TAG}`,
  rabbitmq: 'atp-local/rabbitmq:4.0',
  kubectl: 'atp-local/kubectl:1.32',
} as const;

/** Every container and network a test creates carries this label, its value the test process's pid. */
export const TEST_LABEL = 'io.amqp-trace-proxy.test';

/** Runs `docker ...args` and returns its stdout, trimmed; throws with stderr on failure. */
export async function docker(...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('docker', args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

let checked: Promise<void> | undefined;

/**
 * Fails the whole run at once, saying what to do, when there is no engine or an image is
 * missing: these tests never pass by skipping.
 */
export function requireDocker(): Promise<void> {
  checked ??= (async () => {
    const problem = await docker('info', '--format', '{{.ServerVersion}}').then(
      async () => {
        for (const image of Object.values(IMAGES)) {
          const found = await docker('image', 'inspect', '--format', '{{.Id}}', image).catch(() => '');
          if (!found) return `image ${image} is missing`;
        }
        return '';
      },
      (err: Error) => `no Docker engine answers (${err.message.split('\n')[0]})`,
    );
    if (problem) {
      process.stderr.write(`\n${problem}.\nThe container tests need the engine and the local images: ` +
        'run `make docker-images` (it installs docker.io, starts dockerd and builds them), then run the tests again.\n\n');
      process.exit(1);
    }
  })();
  return checked;
}

/** A name unique to this test run, for containers, networks and compose projects. */
export function runName(prefix: string): string {
  return `atp-test-${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

export interface Container {
  readonly name: string;
  /** The host port (on 127.0.0.1) published for a container port. */
  hostPort(containerPort: number): Promise<number>;
  inspect<T = unknown>(template: string): Promise<T>;
  logs(): Promise<string>;
  remove(): Promise<void>;
}

/** `docker run -d` with the test label; `args` go before the image, `command` after it. */
export async function runContainer(name: string, image: string, args: string[], command: string[] = []): Promise<Container> {
  await docker('run', '-d', '--name', name, '--label', `${TEST_LABEL}=${process.pid}`, ...args, image, ...command);
  return containerHandle(name);
}

export function containerHandle(name: string): Container {
  return {
    name,
    hostPort: async (port) => {
      const out = await docker('port', name, `${port}/tcp`);
      const line = out.split('\n').find((l) => l.startsWith('127.0.0.1:')) ?? out.split('\n')[0] ?? '';
      return Number(line.slice(line.lastIndexOf(':') + 1));
    },
    inspect: async <T>(template: string) => JSON.parse(await docker('inspect', '--format', `{{json ${template}}}`, name)) as T,
    logs: async () => {
      const { stdout, stderr } = await execFileP('docker', ['logs', name], { maxBuffer: 64 * 1024 * 1024 }).catch(() => ({ stdout: '', stderr: '' }));
      return stdout + stderr;
    },
    remove: async () => {
      await docker('rm', '-f', '-v', name).catch(() => undefined);
    },
  };
}

/** Waits for the container's own HEALTHCHECK to report healthy; fails with its logs otherwise. */
export async function waitHealthy(container: Container, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await container.inspect<{ Status: string; Health?: { Status: string } }>('.State');
    if (state.Health?.Status === 'healthy') return;
    if (state.Status !== 'running' && state.Status !== 'created') {
      throw new Error(`${container.name} is ${state.Status}; logs:\n${(await container.logs()).slice(-3000)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${container.name} not healthy after ${timeoutMs} ms (${state.Health?.Status}); logs:\n${(await container.logs()).slice(-3000)}`);
    }
    await sleep(500);
  }
}

export async function createNetwork(name: string): Promise<void> {
  await docker('network', 'create', '--label', `${TEST_LABEL}=${process.pid}`, name);
}

export async function removeNetwork(name: string): Promise<void> {
  await docker('network', 'rm', name).catch(() => undefined);
}

/** A RabbitMQ 4.0 container on `network` under `alias`, published on an ephemeral 127.0.0.1 port. */
export async function startRabbitMq4(name: string, network: string, alias: string): Promise<Container & { url: string; port: number }> {
  const mq = await runContainer(name, IMAGES.rabbitmq, [
    '--network', network, '--network-alias', alias, '--hostname', alias, '-p', '127.0.0.1::5672',
  ]);
  await waitHealthy(mq);
  const port = await mq.hostPort(5672);
  const version = await docker('exec', name, 'rabbitmqctl', 'version');
  if (!/^4\.0\./.test(version)) throw new Error(`${IMAGES.rabbitmq} runs RabbitMQ ${version}, not 4.0`);
  return { ...mq, port, url: `amqp://guest:guest@127.0.0.1:${port}` };
}

/** The test run that owns a labelled object: its label value, or the pid in a compose project's name. */
function ownerPid(label: string, project: string): number {
  const fromProject = /^atp-test-[a-z0-9]+-(\d+)-/.exec(project)?.[1];
  return Number(label || fromProject || 0);
}

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes containers, networks and volumes left by test runs that died before cleaning up
 * (their process is gone). Objects of runs still going, on this machine, are left alone.
 */
export function removeLeftovers(): void {
  const dead = (idField: string, ...args: string[]): string[] =>
    execFileSync('docker', [...args, '--format', `{{${idField}}} {{.Label "${TEST_LABEL}"}} {{.Label "com.docker.compose.project"}}`], { encoding: 'utf8' })
      .split('\n').filter(Boolean)
      .map((line) => line.split(' '))
      .filter(([, label = '', project = '']) => (label !== '' || project.startsWith('atp-test-')) && !alive(ownerPid(label, project)))
      .map(([id = '']) => id);
  const containers = dead('.ID', 'ps', '-a');
  if (containers.length > 0) execFileSync('docker', ['rm', '-f', '-v', ...containers]);
  const networks = dead('.ID', 'network', 'ls');
  if (networks.length > 0) execFileSync('docker', ['network', 'rm', ...networks]);
  const volumes = dead('.Name', 'volume', 'ls');
  if (volumes.length > 0) execFileSync('docker', ['volume', 'rm', ...volumes]);
}
