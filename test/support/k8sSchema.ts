/**
 * Checks Kubernetes objects the way `kubectl apply` would, offline: the published OpenAPI
 * schemas (kubernetes-models, and its cert-manager and prometheus-operator CRD packages)
 * plus the rules a schema cannot express. Kustomization files, which are not API objects,
 * get a strict structural check of our own.
 *
 * kubernetes-models is pinned to its 4.x line: 5.x requires Node 22, this project runs on 20.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { parseAllDocuments } from 'yaml';

import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { PodMonitor, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';

type Model = new (data: never) => { validate(): void };

const MODELS: Readonly<Record<string, Model>> = {
  'v1/Namespace': Namespace as unknown as Model,
  'v1/ServiceAccount': ServiceAccount as unknown as Model,
  'v1/Service': Service as unknown as Model,
  'v1/ConfigMap': ConfigMap as unknown as Model,
  'v1/Secret': Secret as unknown as Model,
  'apps/v1/Deployment': Deployment as unknown as Model,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as Model,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as Model,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as Model,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as Model,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as Model,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as Model,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration as unknown as Model,
  'cert-manager.io/v1/Certificate': Certificate as unknown as Model,
  'cert-manager.io/v1/Issuer': Issuer as unknown as Model,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor as unknown as Model,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor as unknown as Model,
};

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration']);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
};

/** Problems with one API object; empty when `kubectl apply --dry-run=server` would accept it. */
export function objectProblems(obj: unknown): string[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return ['not a mapping'];
  const o = obj as Partial<K8sObject>;
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') return ['apiVersion and kind are required'];
  const problems: string[] = [];
  const name = o.metadata?.name;
  if (typeof name !== 'string' || name === '') problems.push('metadata.name is required');
  else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) problems.push(`metadata.name "${name}" is not a DNS subdomain`);
  if (CLUSTER_SCOPED.has(o.kind) && o.metadata?.namespace !== undefined) problems.push(`${o.kind} is cluster-scoped; metadata.namespace must not be set`);

  const model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!model) return [...problems, `no schema for ${o.apiVersion} ${o.kind}; add it to test/support/k8sSchema.ts`];
  try {
    new model(obj as never).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  if (o.kind === 'Deployment') problems.push(...deploymentRules(o as K8sObject));
  if (o.kind === 'Service') problems.push(...serviceRules(o as K8sObject));
  return problems;
}

function deploymentRules(d: K8sObject): string[] {
  const spec = d['spec'] as { selector?: { matchLabels?: Record<string, string> }; template?: { metadata?: { labels?: Record<string, string> }; spec?: PodSpecLike } };
  const problems: string[] = [];
  const selector = spec.selector?.matchLabels ?? {};
  const labels = spec.template?.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) problems.push(`selector ${k}=${v} does not match the pod template's labels`);
  }
  const pod = spec.template?.spec;
  if (pod) problems.push(...podSpecRules(pod));
  return problems;
}

export interface ContainerLike {
  name: string;
  image?: string;
  restartPolicy?: string;
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string }[];
  env?: { name: string }[];
  [field: string]: unknown;
}

export interface PodSpecLike {
  containers: ContainerLike[];
  initContainers?: ContainerLike[];
  volumes?: { name: string }[];
  [field: string]: unknown;
}

/** Cross-field rules the API server enforces (or the kubelet trips over) that the schema does not. */
export function podSpecRules(pod: PodSpecLike): string[] {
  const problems: string[] = [];
  const all = [...pod.containers, ...(pod.initContainers ?? [])];
  const names = all.map((c) => c.name);
  if (new Set(names).size !== names.length) problems.push(`container names repeat: ${names.join(', ')}`);
  for (const c of pod.containers) if (c.restartPolicy !== undefined) problems.push(`${c.name}: restartPolicy is for init containers only`);
  for (const c of pod.initContainers ?? []) {
    if (c.restartPolicy !== undefined && c.restartPolicy !== 'Always') problems.push(`${c.name}: an init container's restartPolicy can only be Always`);
  }
  const ports = all.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
  if (new Set(ports).size !== ports.length) problems.push(`container ports clash: ${ports.join(', ')}`);
  const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
  for (const c of all) {
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${c.name} mounts undefined volume ${m.name}`);
    for (const p of c.ports ?? []) if (p.name !== undefined && p.name.length > 15) problems.push(`${c.name}: port name ${p.name} is over 15 characters`);
  }
  return problems;
}

function serviceRules(s: K8sObject): string[] {
  const spec = s['spec'] as { selector?: Record<string, string>; ports?: unknown[] };
  const problems: string[] = [];
  if (!spec.selector || Object.keys(spec.selector).length === 0) problems.push('a Service without a selector gets no endpoints');
  if (!spec.ports || spec.ports.length === 0) problems.push('a Service needs ports');
  return problems;
}

const KUSTOMIZATION_KEYS = new Set([
  'apiVersion', 'kind', 'metadata', 'resources', 'components', 'namespace', 'namePrefix', 'nameSuffix', 'labels', 'commonLabels',
  'commonAnnotations', 'patches', 'images', 'replicas', 'configMapGenerator', 'secretGenerator', 'generatorOptions',
]);

/** Strict structural check of a kustomization.yaml in `dir`. */
export function kustomizationProblems(k: Record<string, unknown>, dir: string): string[] {
  const problems: string[] = [];
  if (k['apiVersion'] !== 'kustomize.config.k8s.io/v1beta1') problems.push('apiVersion must be kustomize.config.k8s.io/v1beta1');
  if (k['kind'] !== 'Kustomization') problems.push('kind must be Kustomization');
  for (const key of Object.keys(k)) if (!KUSTOMIZATION_KEYS.has(key)) problems.push(`unknown field ${key}`);
  const resources = k['resources'];
  if (!Array.isArray(resources) || resources.length === 0) problems.push('resources must be a non-empty list');
  for (const r of Array.isArray(resources) ? resources : []) {
    if (typeof r !== 'string') {
      problems.push('a resource entry is not a string');
      continue;
    }
    const target = join(dir, r);
    if (!existsSync(target)) problems.push(`resource ${r} does not exist`);
    else if (statSync(target).isDirectory() && !existsSync(join(target, 'kustomization.yaml'))) problems.push(`resource ${r} is a directory without kustomization.yaml`);
  }
  const patches = k['patches'];
  if (patches !== undefined && !Array.isArray(patches)) problems.push('patches must be a list');
  for (const p of Array.isArray(patches) ? (patches as Record<string, unknown>[]) : []) {
    if (typeof p['patch'] !== 'string' && typeof p['path'] !== 'string') problems.push('a patch needs patch or path');
    if (typeof p['path'] === 'string' && !existsSync(join(dir, p['path']))) problems.push(`patch file ${p['path']} does not exist`);
    const target = p['target'] as Record<string, unknown> | undefined;
    if (target !== undefined && (typeof target['kind'] !== 'string' || typeof target['name'] !== 'string')) problems.push('a patch target needs kind and name');
  }
  const labels = k['labels'];
  for (const l of Array.isArray(labels) ? (labels as Record<string, unknown>[]) : []) {
    if (typeof l['pairs'] !== 'object' || l['pairs'] === null) problems.push('labels entries need pairs');
  }
  return problems;
}

/** Every *.yml / *.yaml under `dir`, recursively, sorted. */
export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

export interface Manifest {
  /** Path relative to `root`. */
  file: string;
  doc: Record<string, unknown>;
}

/** All YAML documents under `dir` (empty documents skipped); throws on any parse error or warning. */
export function readManifests(dir: string, root = dir): Manifest[] {
  const out: Manifest[] = [];
  for (const path of yamlFiles(dir)) {
    const file = relative(root, path);
    for (const d of parseAllDocuments(readFileSync(path, 'utf8'))) {
      const issues = [...d.errors, ...d.warnings].map((e) => e.message);
      if (issues.length > 0) throw new Error(`${file}: ${issues.join('; ')}`);
      const value: unknown = d.toJS();
      if (value === null || value === undefined) continue;
      if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: a document is not a mapping`);
      out.push({ file, doc: value as Record<string, unknown> });
    }
  }
  return out;
}
