/**
 * Every YAML file in k8s/ and docker/ parses; every Kubernetes object in k8s/ passes the
 * published schema for its kind plus our own cross-field rules; every kustomization is sound.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';

import { readComposeFile } from '../../support/compose';
import { REPO_ROOT } from '../../support/dockerfileSteps';
import { kustomizationProblems, objectProblems, readManifests, yamlFiles } from '../../support/k8sSchema';

const K8S = join(REPO_ROOT, 'k8s');
const DOCKER = join(REPO_ROOT, 'docker');

test('there are manifests to check', () => {
  const files = yamlFiles(K8S).map((f) => f.slice(K8S.length + 1));
  for (const expected of ['sidecar-example/kustomization.yaml', 'webhook/kustomization.yaml', 'webhook/mutatingwebhookconfiguration.yaml']) {
    assert.ok(files.includes(expected), expected);
  }
});

test('every YAML file in docker/ parses (compose merge tags allowed in compose files only)', () => {
  const files = yamlFiles(DOCKER);
  assert.ok(files.length >= 6, `found ${files.length}`);
  for (const path of files) {
    if (/docker-compose[^/]*\.yml$/.test(path)) {
      readComposeFile(path);
      continue;
    }
    for (const d of parseAllDocuments(readFileSync(path, 'utf8'))) {
      assert.equal([...d.errors, ...d.warnings].map((e) => e.message), [], path);
    }
  }
});

test('every Kubernetes object in k8s/ passes its schema and our rules', () => {
  const problems: string[] = [];
  const manifests = readManifests(K8S);
  const kinds = new Set<string>();
  for (const { file, doc } of manifests) {
    if (doc['kind'] === 'Kustomization') continue;
    kinds.add(String(doc['kind']));
    for (const p of objectProblems(doc)) problems.push(`${file} ${String(doc['kind'])}/${String((doc['metadata'] as { name?: string } | undefined)?.name)}: ${p}`);
  }
  assert.equal(problems, []);
  for (const kind of ['Deployment', 'Service', 'ConfigMap', 'ServiceAccount', 'MutatingWebhookConfiguration', 'Certificate', 'Issuer', 'PodMonitor', 'Namespace']) {
    assert.ok(kinds.has(kind), `a ${kind} was checked`);
  }
});

test('every kustomization lists resources that exist, and every object file is in one', () => {
  const problems: string[] = [];
  const listed = new Set<string>();
  for (const { file, doc } of readManifests(K8S)) {
    if (doc['kind'] !== 'Kustomization') continue;
    const dir = join(K8S, dirname(file));
    for (const p of kustomizationProblems(doc, dir)) problems.push(`${file}: ${p}`);
    for (const r of (doc['resources'] as string[] | undefined) ?? []) listed.add(join(dir, r));
  }
  assert.equal(problems, []);
  for (const { file, doc } of readManifests(K8S)) {
    if (doc['kind'] === 'Kustomization') continue;
    assert.ok(listed.has(join(K8S, file)), `${file} is not listed in its kustomization.yaml`);
  }
});

test('kustomize patch targets in the openssl overlay exist in the base', () => {
  const overlay = readManifests(join(K8S, 'webhook-openssl')).find((m) => m.doc['kind'] === 'Kustomization')!.doc;
  assert.equal(overlay['resources'], ['../webhook']);
  const base = readManifests(join(K8S, 'webhook')).filter((m) => m.doc['kind'] !== 'Kustomization');
  for (const p of overlay['patches'] as { target: { kind: string; name: string }; patch: string }[]) {
    const hit = base.find((m) => m.doc['kind'] === p.target.kind && (m.doc['metadata'] as { name: string }).name === p.target.name);
    assert.ok(hit, `${p.target.kind}/${p.target.name}`);
    if (p.patch.trimStart().startsWith('- op: remove')) {
      const annotations = (hit!.doc['metadata'] as { annotations?: Record<string, string> }).annotations ?? {};
      assert.ok('cert-manager.io/inject-ca-from' in annotations, 'the removed annotation exists in the base');
    }
  }
});

test('the schema check is not a rubber stamp', () => {
  const deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'a', image: 'i', ports: [{ containerPort: '80' }], restartPolicy: 'Always' }] } },
    },
  };
  const problems = objectProblems(deployment).join('\n');
  assert.match(problems, /containerPort must be integer/);
  assert.match(problems, /does not match the pod template's labels/);
  assert.match(problems, /restartPolicy is for init containers only/);
  assert.match(objectProblems({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad_Name' } }).join(), /not a DNS subdomain/);
  assert.match(objectProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }).join(), /no schema/);
  assert.match(objectProblems({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'c' }, spec: { issuerRef: { name: 'i' } } }).join(), /secretName/);
  assert.ok(existsSync(join(K8S, 'webhook-openssl', 'kustomization.yaml')));
});

test.run();
