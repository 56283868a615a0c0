/**
 * The parts of a core/v1 Pod the webhook reads, and a shape check for the untrusted JSON the
 * API server sends. Only what the webhook relies on is checked; every other field is carried
 * along untouched (the patch never rewrites what it does not need to change).
 */

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
}

export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  envFrom?: unknown[];
  ports?: ContainerPort[];
  [field: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string }[];
  hostNetwork?: boolean;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface Pod {
  metadata?: ObjectMeta;
  spec: PodSpec;
  [field: string]: unknown;
}

export type ContainerList = 'containers' | 'initContainers';

/** Returns the value as a Pod, or a sentence saying what is wrong with it (no values quoted). */
export function readPod(value: unknown): Pod | { problem: string } {
  if (!isObject(value)) return { problem: 'the object is not a JSON object' };
  const meta = value['metadata'];
  if (meta !== undefined) {
    if (!isObject(meta)) return { problem: 'metadata is not an object' };
    for (const map of ['labels', 'annotations'] as const) {
      if (meta[map] !== undefined && !isStringMap(meta[map])) return { problem: `metadata.${map} is not a map of strings` };
    }
  }
  const spec = value['spec'];
  if (!isObject(spec)) return { problem: 'spec is missing' };
  if (!Array.isArray(spec['containers']) || spec['containers'].length === 0) {
    return { problem: 'spec.containers is missing or empty' };
  }
  for (const list of ['containers', 'initContainers'] as const) {
    const problem = checkContainers(spec[list], list);
    if (problem) return { problem };
  }
  const volumes = spec['volumes'];
  if (volumes !== undefined && !(Array.isArray(volumes) && volumes.every((v) => isObject(v) && typeof v['name'] === 'string'))) {
    return { problem: 'spec.volumes is not a list of named volumes' };
  }
  return value as Pod;
}

/** "namespace/name" for logs: generateName stands in for a name the API server has not assigned yet. */
export function podRef(pod: Pod, requestNamespace: string | undefined): string {
  const meta = pod.metadata ?? {};
  const name = meta.name ?? (meta.generateName ? `${meta.generateName}*` : '(unnamed)');
  return `${meta.namespace ?? requestNamespace ?? '(no namespace)'}/${name}`;
}

function checkContainers(list: unknown, field: ContainerList): string | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) return `spec.${field} is not a list`;
  for (const [i, c] of list.entries()) {
    if (!isObject(c) || typeof c['name'] !== 'string' || c['name'] === '') return `spec.${field}[${i}] has no name`;
    const env = c['env'];
    if (env !== undefined && !(Array.isArray(env) && env.every((e) => isObject(e) && typeof e['name'] === 'string'))) {
      return `spec.${field}[${i}].env is not a list of named variables`;
    }
    if (env !== undefined && (env as Record<string, unknown>[]).some((e) => e['value'] !== undefined && typeof e['value'] !== 'string')) {
      return `spec.${field}[${i}].env has a value that is not a string`;
    }
    const ports = c['ports'];
    if (ports !== undefined && !(Array.isArray(ports) && ports.every((p) => isObject(p) && typeof p['containerPort'] === 'number'))) {
      return `spec.${field}[${i}].ports is not a list of container ports`;
    }
  }
  return undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringMap(value: unknown): boolean {
  return isObject(value) && Object.values(value).every((v) => typeof v === 'string');
}
