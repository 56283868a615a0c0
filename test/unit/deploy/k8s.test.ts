/**
 * The manifests agree with each other and with the code: names, ports, paths and TLS files
 * line up; the webhook's flags parse; the hand-written sidecar is the one the webhook injects.
 */
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { parseWebhookArgs } from '../../../src/webhook/cli';
import { INJECTED_LABEL, INJECT_KEY, METRICS_PORT, MODE_DIR, SIDECAR_NAME } from '../../../src/webhook/names';
import { ROUTES } from '../../../src/webhook/server';
import { DEFAULT_INJECTION_SETTINGS, modeVolume, sidecarContainer } from '../../../src/webhook/sidecar';
import { REPO_ROOT } from '../../support/dockerfileSteps';
import { readManifests, type ContainerLike, type PodSpecLike } from '../../support/k8sSchema';

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

function objects(dir: string): Obj[] {
  return readManifests(join(REPO_ROOT, 'k8s', dir)).map((m) => m.doc as Obj).filter((d) => d.kind !== 'Kustomization');
}

function one(list: Obj[], kind: string, name?: string): Obj {
  const hits = list.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.is(hits.length, 1, `exactly one ${kind}${name ? `/${name}` : ''}`);
  return hits[0]!;
}

function podSpec(d: Obj): PodSpecLike {
  return (d['spec'] as { template: { spec: PodSpecLike } }).template.spec;
}

const webhook = objects('webhook').filter((o) => o.metadata.name !== undefined);
const example = objects('sidecar-example');

test('webhook: least privilege, no API access at all', () => {
  for (const kind of ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']) {
    assert.is(webhook.filter((o) => o.kind === kind).length, 0, `no ${kind}: the webhook reads nothing from the API server`);
  }
  const sa = one(webhook, 'ServiceAccount');
  assert.is(sa['automountServiceAccountToken'], false);
  const pod = podSpec(one(webhook, 'Deployment'));
  assert.is(pod['serviceAccountName'], sa.metadata.name);
  assert.is(pod['automountServiceAccountToken'], false);
  const sc = pod.containers[0]!['securityContext'] as Record<string, unknown>;
  assert.is(sc['allowPrivilegeEscalation'], false);
  assert.is(sc['readOnlyRootFilesystem'], true);
  assert.equal((pod['securityContext'] as Record<string, unknown>)['runAsNonRoot'], true);
});

test('webhook: its arguments parse, TLS files come from the certificate Secret, ports line up', () => {
  const deployment = one(webhook, 'Deployment');
  const pod = podSpec(deployment);
  const c = pod.containers[0]!;
  const args = c['args'] as string[];
  assert.is(args[0], 'webhook', 'the subcommand');
  const parsed = parseWebhookArgs(args.slice(1), {});
  assert.is(parsed.kind, 'ok', JSON.stringify(parsed));
  if (parsed.kind !== 'ok') return;
  assert.is(parsed.config.settings.sidecarImage, c.image, 'the sidecar image is the webhook image');
  const mount = c.volumeMounts!.find((m) => parsed.config.tls!.certFile.startsWith(`${m.mountPath}/`));
  assert.ok(mount, 'the certificate file is on a mounted volume');
  assert.ok(parsed.config.tls!.keyFile.startsWith(`${mount!.mountPath}/`));
  const volume = (pod.volumes as { name: string; secret?: { secretName: string } }[]).find((v) => v.name === mount!.name);
  const cert = one(webhook, 'Certificate');
  assert.is(volume?.secret?.secretName, (cert['spec'] as { secretName: string }).secretName);
  const port = c.ports!.find((p) => p.containerPort === parsed.config.listen.port);
  assert.ok(port, 'the listen port is a container port');

  const service = one(webhook, 'Service');
  const svcPort = (service['spec'] as { ports: { port: number; targetPort: string | number }[] }).ports[0]!;
  assert.ok(svcPort.targetPort === port!.name || svcPort.targetPort === port!.containerPort, 'the Service targets it');
  const selector = (service['spec'] as { selector: Record<string, string> }).selector;
  const labels = (deployment['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
  for (const [k, v] of Object.entries(selector)) assert.is(labels[k], v, 'the Service selects the webhook pods');
});

test('webhook: the MutatingWebhookConfiguration reaches the Service, the routes and the CA', () => {
  const mwc = one(webhook, 'MutatingWebhookConfiguration');
  const service = one(webhook, 'Service');
  const cert = one(webhook, 'Certificate');
  const ns = one(webhook, 'Namespace');
  assert.is(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${cert.metadata.namespace}/${cert.metadata.name}`);
  const dnsNames = (cert['spec'] as { dnsNames: string[] }).dnsNames;
  assert.ok(dnsNames.includes(`${service.metadata.name}.${service.metadata.namespace}.svc`), 'the name the API server dials');
  const svcPort = (service['spec'] as { ports: { port: number }[] }).ports[0]!.port;

  const entries = mwc['webhooks'] as Record<string, unknown>[];
  assert.is(entries.length, 2);
  const paths = new Set<string>();
  for (const w of entries) {
    const name = String(w['name']);
    assert.is(w['failurePolicy'], 'Ignore', name);
    assert.is(w['reinvocationPolicy'], 'IfNeeded', name);
    assert.is(w['sideEffects'], 'None', name);
    assert.equal(w['admissionReviewVersions'], ['v1'], name);
    assert.ok(Number(w['timeoutSeconds']) <= 10, `${name}: a short timeout, pod creation waits on it`);
    const rules = w['rules'] as { operations: string[]; resources: string[]; apiGroups: string[] }[];
    assert.equal(rules.map((r) => [r.operations, r.apiGroups, r.resources]), [[['CREATE'], [''], ['pods']]], name);
    const svc = (w['clientConfig'] as { service: { name: string; namespace: string; path: string; port: number } }).service;
    assert.is(svc.name, service.metadata.name);
    assert.is(svc.namespace, service.metadata.namespace);
    assert.is(svc.port, svcPort);
    assert.ok(svc.path in ROUTES, `${svc.path} is served`);
    paths.add(svc.path);
  }
  assert.is(paths.size, 2, 'one entry per scope');

  const byPath = (path: string) => entries.find((w) => (w['clientConfig'] as { service: { path: string } }).service.path === path)!;
  const nsEntry = byPath('/mutate');
  assert.is(ROUTES['/mutate'], 'namespace');
  assert.equal((nsEntry['namespaceSelector'] as { matchLabels: Record<string, string> }).matchLabels, { [INJECT_KEY]: 'enabled' });
  const podEntry = byPath('/mutate/opt-in');
  assert.is(ROUTES['/mutate/opt-in'], 'pod');
  const exprs = (podEntry['namespaceSelector'] as { matchExpressions: { key: string; operator: string; values: string[] }[] }).matchExpressions;
  assert.ok(exprs.some((e) => e.key === INJECT_KEY && e.operator === 'NotIn' && e.values.includes('enabled')), 'labelled namespaces are left to the other entry');
  assert.ok(exprs.some((e) => e.key === 'kubernetes.io/metadata.name' && e.values.includes(ns.metadata.name) && e.values.includes('kube-system')));
  assert.is(ns.metadata.labels?.[INJECT_KEY], 'disabled', 'the webhook namespace never gets injected');
  for (const w of entries) {
    for (const c of (w['matchConditions'] as { expression: string }[] | undefined) ?? []) assert.ok(c.expression.includes(INJECT_KEY));
  }
});

test('webhook: two replicas and a disruption budget (an outage silently skips injection)', () => {
  const d = one(webhook, 'Deployment');
  assert.ok(Number((d['spec'] as { replicas: number }).replicas) >= 2);
  const pdb = one(webhook, 'PodDisruptionBudget');
  assert.equal((pdb['spec'] as { selector: unknown }).selector, (d['spec'] as { selector: unknown }).selector);
});

const COMPARED = ['restartPolicy', 'ports', 'startupProbe', 'readinessProbe', 'livenessProbe', 'lifecycle', 'resources', 'securityContext', 'volumeMounts', 'imagePullPolicy'];

test('sidecar example: the hand-written sidecar is the one the webhook injects', () => {
  const pod = podSpec(one(example, 'Deployment'));
  const written = pod.initContainers?.find((c) => c.name === SIDECAR_NAME);
  assert.ok(written, 'a native sidecar init container');
  const env = new Map((written!.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
  const upstream = env.get('PROXY_UPSTREAM')!;
  const extra = [...env.entries()].filter(([k]) => k.startsWith('OTEL_') && !['OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES'].includes(k)) as [string, string][];
  const generated = sidecarContainer({ ...DEFAULT_INJECTION_SETTINGS, sidecarImage: written!.image!, sidecarEnv: extra }, upstream.split(',')) as ContainerLike;
  for (const field of COMPARED) assert.equal(written![field], generated[field], field);
  assert.equal(written!.env, generated.env, 'env');
  assert.equal(pod.volumes?.find((v) => v.name === 'amqp-trace-proxy-mode'), modeVolume({ ...DEFAULT_INJECTION_SETTINGS, sidecarImage: written!.image! }));
});

test('sidecar example: the app reaches the sidecar, the PodMonitor and the ConfigMap line up', () => {
  const deployment = one(example, 'Deployment');
  const pod = podSpec(deployment);
  const app = pod.containers[0]!;
  const url = (app.env as { name: string; value?: string }[]).find((e) => e.name === 'AMQP_URL')?.value;
  assert.match(url ?? '', /^amqp:\/\/[^@]+@127\.0\.0\.1:5673\//, 'AMQP_URL points at the sidecar');
  const sidecar = pod.initContainers![0]!;
  const listen = (sidecar.env as { name: string; value?: string }[]).find((e) => e.name === 'PROXY_LISTEN')?.value;
  assert.is(listen, '127.0.0.1:5673');

  const monitor = one(example, 'PodMonitor');
  const mspec = monitor['spec'] as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
  const labels = (deployment['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
  for (const [k, v] of Object.entries(mspec.selector.matchLabels)) assert.is(labels[k], v);
  assert.ok(sidecar.ports!.some((p) => p.name === mspec.podMetricsEndpoints[0]!.port), 'the scraped port is the sidecar metrics port');

  const cm = one(example, 'ConfigMap');
  const vol = (pod.volumes as { name: string; configMap?: { name: string; items: { key: string; path: string }[] } }[]).find((v) => v.configMap);
  assert.is(vol?.configMap?.name, cm.metadata.name);
  assert.ok(['tracing', 'bypass'].includes(String((cm['data'] as Record<string, string>)['mode'])), 'a mode the proxy understands');
  const modeFile = (sidecar.env as { name: string; value?: string }[]).find((e) => e.name === 'PROXY_MODE_FILE')?.value;
  assert.is(modeFile, `${MODE_DIR}/${vol!.configMap!.items[0]!.path}`);

  const service = one(example, 'Service');
  const target = (service['spec'] as { ports: { targetPort: string }[] }).ports[0]!.targetPort;
  assert.ok(app.ports!.some((p) => p.name === target), 'the Service targets the app port');
});

test('the injected-pods PodMonitor selects the label the webhook adds', () => {
  const monitor = one(objects('monitoring'), 'PodMonitor');
  const spec = monitor['spec'] as { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: { port: string }[] };
  assert.equal(spec.selector.matchLabels, { 'amqp-trace-proxy.io/injected': 'true' });
  const generated = sidecarContainer({ ...DEFAULT_INJECTION_SETTINGS, sidecarImage: 'x' }, ['amqp://mq:5672']) as ContainerLike;
  assert.is(spec.podMetricsEndpoints[0]!.port, generated.ports![0]!.name);
});

interface PolicySpec {
  podSelector: { matchLabels: Record<string, string> };
  policyTypes: string[];
  ingress?: { from?: unknown[]; ports?: { protocol: string; port: number }[] }[];
  egress?: unknown[];
}

test('webhook NetworkPolicy: selects the webhook pods, lets in their listen port only, lets nothing out', () => {
  const policy = one(webhook, 'NetworkPolicy');
  const spec = policy['spec'] as PolicySpec;
  const deployment = one(webhook, 'Deployment');
  assert.is(policy.metadata.namespace, deployment.metadata.namespace);
  const labels = (deployment['spec'] as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
  for (const [k, v] of Object.entries(spec.podSelector.matchLabels)) assert.is(labels[k], v, 'it selects the webhook pods');
  const parsed = parseWebhookArgs((podSpec(deployment).containers[0]!['args'] as string[]).slice(1), {});
  assert.is(parsed.kind, 'ok');
  if (parsed.kind !== 'ok') return;
  assert.equal(spec.ingress?.flatMap((r) => r.ports ?? []), [{ protocol: 'TCP', port: parsed.config.listen.port }]);
  assert.equal(spec.policyTypes, ['Ingress', 'Egress']);
  assert.equal(spec.egress, [], 'no egress: the webhook calls nothing');
});

test('metrics NetworkPolicy: selects injected pods and admits the metrics port from one namespace only', () => {
  const policy = one(objects('networkpolicy-metrics'), 'NetworkPolicy');
  const spec = policy['spec'] as PolicySpec;
  assert.is(policy.metadata.namespace, undefined, 'applied in each application namespace with -n');
  assert.equal(spec.podSelector.matchLabels, { [INJECTED_LABEL]: 'true' });
  assert.equal(spec.ingress, [{
    from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    ports: [{ protocol: 'TCP', port: METRICS_PORT }],
  }]);
});

test.run();
