/**
 * Kubernetes as far as it runs without a cluster: the injection webhook served from the
 * built image as a container, with the arguments of k8s/webhook/deployment.yaml, over HTTPS
 * with a certificate the test makes; AdmissionReviews posted the way the API server posts
 * them; the patched pod checked against the published schema. And every kustomization
 * rendered offline by Debian trixie's kubectl 1.32, each object schema-checked.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/dockerfileSteps';
import { IMAGES, docker, removeLeftovers, requireDocker, runContainer, runName, type Container } from '../support/docker';
import { objectProblems, yamlFiles } from '../support/k8sSchema';
import { applyPatch, type Operation } from '../support/jsonPatch';
import { container, envOf, podProblems, type PodJson } from '../support/webhookClient';
import { sleep } from '../support/wait';

const SIDECAR_IMAGE = 'registry.example.com/platform/amqp-trace-proxy:0.1.0';

interface Ctx {
  certs: string;
  ca: Buffer;
  webhook: Container;
  port: number;
}

const k8s = suite<Ctx>('Kubernetes: the webhook container and kubectl', {} as Ctx);

k8s.before(async (ctx) => {
  await requireDocker();
  removeLeftovers();
  ctx.certs = makeCertificates();
  ctx.ca = readFileSync(join(ctx.certs, 'ca.crt'));
  const deployment = readFileSync(join(REPO_ROOT, 'k8s/webhook/deployment.yaml'), 'utf8');
  const args = deploymentArgs(deployment);
  ctx.webhook = await runContainer(runName('webhook'), IMAGES.proxy, [
    '--read-only', '-v', `${ctx.certs}:/etc/webhook/tls:ro`, '-p', '127.0.0.1::8443',
  ], args);
  ctx.port = await ctx.webhook.hostPort(8443);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await https(ctx, 'GET', '/healthz').then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`webhook not serving /healthz over HTTPS; logs:\n${await ctx.webhook.logs()}`);
    await sleep(300);
  }
});

k8s.after(async (ctx) => {
  await ctx.webhook?.remove();
  if (ctx.certs) rmSync(ctx.certs, { recursive: true, force: true });
});

k8s('the image serves the webhook over HTTPS with the deployment\'s arguments, read-only, as uid 1000', async ({ webhook }) => {
  assert.is(await webhook.inspect<string>('.Config.User'), '1000:1000');
  assert.is(await webhook.inspect<boolean>('.HostConfig.ReadonlyRootfs'), true);
  assert.is(await docker('exec', webhook.name, 'id', '-u'), '1000');
});

k8s('a pod CREATE from an opted-in namespace gets the sidecar; the patched pod passes the schema', async (ctx) => {
  const pod = appPod({ AMQP_URL: 'amqp://app:s3cret@rabbitmq.mq:5672/orders' });
  const { response, patched } = await review(ctx, '/mutate?timeout=5s', pod);
  assert.is(response.allowed, true);
  assert.is(response.patchType, 'JSONPatch');
  assert.equal(podProblems(patched), []);
  const sidecar = container(patched, 'amqp-trace-proxy');
  assert.is(sidecar.image, SIDECAR_IMAGE);
  assert.is(sidecar.restartPolicy, 'Always');
  assert.is(envOf(sidecar, 'PROXY_UPSTREAM'), 'amqp://rabbitmq.mq:5672');
  assert.is(envOf(container(patched, 'app'), 'AMQP_URL'), 'amqp://app:s3cret@127.0.0.1:5673/orders');
  assert.is(patched.metadata.annotations?.['amqp-trace-proxy.io/status'], 'injected');
  const logs = await ctx.webhook.logs();
  assert.not.match(logs, /s3cret/, 'credentials never logged');
});

k8s('a pod that did not opt in, on /mutate/opt-in, is admitted unchanged', async (ctx) => {
  const { response } = await review(ctx, '/mutate/opt-in?timeout=5s', appPod({ AMQP_URL: 'amqp://u:p@rabbitmq.mq:5672/' }));
  assert.is(response.allowed, true);
  assert.is(response.patch, undefined);
});

k8s('an HTTPS client that does not trust the webhook\'s CA is refused (the API server checks caBundle)', async (ctx) => {
  const err = await https({ ...ctx, ca: Buffer.alloc(0) }, 'GET', '/healthz').then(() => undefined, (e: Error) => e);
  assert.ok(err, 'the request without the CA must fail');
  assert.match(err!.message, /self[- ]signed|unable to verify|certificate/i);
});

k8s('kubectl 1.32 renders every kustomization offline; every rendered object passes the schema checks', async () => {
  const dirs = yamlFiles(join(REPO_ROOT, 'k8s')).filter((f) => f.endsWith('/kustomization.yaml')).map((f) => dirname(f)).sort();
  assert.ok(dirs.length >= 4, dirs.join(', '));
  for (const dir of dirs) {
    const rel = relative(REPO_ROOT, dir);
    const rendered = await docker('run', '--rm', '--network', 'none', '-v', `${join(REPO_ROOT, 'k8s')}:/k8s:ro`, IMAGES.kubectl,
      'kustomize', `/${relative(REPO_ROOT, dir)}`);
    const docs = parseAllDocuments(rendered).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    assert.ok(docs.length > 0, `${rel} renders nothing`);
    const problems = docs.flatMap((d) => objectProblems(d).map((p) => `${rel}: ${d.kind}/${d.metadata?.name}: ${p}`));
    assert.equal(problems, []);
  }
  const version = await docker('run', '--rm', '--network', 'none', IMAGES.kubectl, 'version', '--client', '-o', 'json');
  assert.match(String((JSON.parse(version) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion), /^v1\.32\./);
});

// ---- helpers --------------------------------------------------------------------------

/** The webhook container's args from the shipped Deployment (YAML list under `args:`). */
function deploymentArgs(yamlText: string): string[] {
  const deployment = parseAllDocuments(yamlText).map((d) => d.toJS() as { kind: string; spec?: { template: { spec: { containers: { args?: string[] }[] } } } })
    .find((d) => d.kind === 'Deployment');
  const args = deployment?.spec?.template.spec.containers[0]?.args;
  assert.ok(args && args[0] === 'webhook', 'k8s/webhook/deployment.yaml runs `webhook`');
  assert.ok(args!.includes(`--sidecar-image=${SIDECAR_IMAGE}`));
  return args!;
}

/** A CA and a serving certificate for 127.0.0.1, as cert-manager or the openssl steps in docs/DEPLOY.md make them. */
function makeCertificates(): string {
  const dir = mkdtempSync(join(tmpdir(), 'atp-webhook-tls-'));
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test webhook CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=amqp-trace-proxy-webhook.test.svc', '-keyout', 'tls.key', '-out', 'tls.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:amqp-trace-proxy-webhook.test.svc,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'tls.crt');
  // The container runs as uid 1000; in a cluster the Secret volume's mode does this.
  chmodSync(dir, 0o755);
  for (const f of ['tls.crt', 'tls.key']) chmodSync(join(dir, f), 0o644);
  return dir;
}

function https(ctx: { port: number; ca: Buffer }, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: ctx.port, path, method, agent: false, ...(ctx.ca.length > 0 ? { ca: ctx.ca } : {}),
      headers: body === undefined ? {} : { 'content-type': 'application/json', accept: 'application/json' },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface ReviewResponse {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
}

/** Posts an AdmissionReview v1 for a pod CREATE, as the API server does, and applies the patch. */
async function review(ctx: Ctx, path: string, pod: PodJson): Promise<{ response: ReviewResponse; patched: PodJson }> {
  const uid = randomUUID();
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' }, requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop', operation: 'CREATE', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod, oldObject: null, dryRun: false, options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  });
  const reply = await https(ctx, 'POST', path, body);
  assert.is(reply.status, 200, reply.body);
  const parsed = JSON.parse(reply.body) as { apiVersion: string; kind: string; response: ReviewResponse };
  assert.is(parsed.apiVersion, 'admission.k8s.io/v1');
  assert.is(parsed.kind, 'AdmissionReview');
  assert.is(parsed.response.uid, uid);
  const ops = parsed.response.patch ? JSON.parse(Buffer.from(parsed.response.patch, 'base64').toString('utf8')) as Operation[] : [];
  return { response: parsed.response, patched: applyPatch(pod, ops) };
}

function appPod(env: Record<string, string>): PodJson {
  return {
    metadata: { generateName: 'orders-7d9f8-', labels: { app: 'orders' } },
    spec: {
      containers: [{
        name: 'app', image: 'registry.example.com/shop/orders:1.4.2',
        env: Object.entries(env).map(([name, value]) => ({ name, value })),
        ports: [{ containerPort: 8080, name: 'http' }],
      }],
    },
  };
}

k8s.run();
