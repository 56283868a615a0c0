/**
 * Drives the injection webhook the way the API server does: a real server on an ephemeral
 * port, AdmissionReview v1 JSON over HTTP, and the JSONPatch decoded from base64.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Pod as PodModel } from 'kubernetes-models/v1';

import { close, createWebhookServer, listen, type WebhookLog } from '../../src/webhook/server';
import { DEFAULT_INJECTION_SETTINGS, type InjectionSettings } from '../../src/webhook/sidecar';
import { applyPatch, type Operation } from './jsonPatch';

export const TEST_SETTINGS: InjectionSettings = {
  ...DEFAULT_INJECTION_SETTINGS,
  sidecarImage: 'registry.example.com/platform/amqp-trace-proxy:0.1.0',
  sidecarEnv: [['OTEL_EXPORTER_OTLP_ENDPOINT', 'http://otel-collector.observability:4317']],
};

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

export interface RunningWebhook {
  port: number;
  logs: LogLine[];
  stop(): Promise<void>;
}

export async function startWebhook(settings: InjectionSettings = TEST_SETTINGS, maxBodyBytes?: number): Promise<RunningWebhook> {
  const logs: LogLine[] = [];
  const log: WebhookLog = {
    info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
  };
  const server = createWebhookServer(maxBodyBytes === undefined ? { settings, log } : { settings, log, limits: { maxBodyBytes } });
  const addr: AddressInfo = await listen(server, '127.0.0.1', 0);
  return { port: addr.port, logs, stop: () => close(server, 100) };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function call(port: number, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface ReviewOptions {
  operation?: string;
  kind?: { group: string; version: string; kind: string };
  namespace?: string;
}

/** An AdmissionReview as the API server sends it for a pod CREATE. */
export function admissionReview(object: unknown, options: ReviewOptions = {}): { uid: string; body: string } {
  const uid = randomUUID();
  const namespace = options.namespace ?? 'shop';
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: options.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: options.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      namespace,
      operation: options.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  });
  return { uid, body };
}

export interface ReviewResponse {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  warnings?: string[];
}

export interface Reviewed {
  response: ReviewResponse;
  ops: Operation[];
  /** The pod after applying the patch (the input when there is none). */
  pod: PodJson;
}

export type PodJson = {
  metadata: { name?: string; generateName?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    containers: ContainerJson[];
    initContainers?: ContainerJson[];
    volumes?: { name: string; [k: string]: unknown }[];
    [k: string]: unknown;
  };
};

export type ContainerJson = {
  name: string;
  image?: string;
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { containerPort: number; name?: string }[];
  volumeMounts?: { name: string; mountPath: string }[];
  [k: string]: unknown;
};

/** POSTs a pod to `path`, checks the envelope, applies the patch. */
export async function reviewPod(port: number, pod: PodJson, path = '/mutate'): Promise<Reviewed> {
  const { uid, body } = admissionReview(pod);
  const reply = await call(port, 'POST', path, body);
  if (reply.status !== 200) throw new Error(`expected 200, got ${reply.status}: ${reply.body}`);
  const parsed = JSON.parse(reply.body) as { apiVersion: string; kind: string; response: ReviewResponse };
  if (parsed.apiVersion !== 'admission.k8s.io/v1' || parsed.kind !== 'AdmissionReview') throw new Error(`bad envelope: ${reply.body}`);
  if (parsed.response.uid !== uid) throw new Error('response uid does not echo the request uid');
  if (parsed.response.allowed !== true) throw new Error('the webhook denied a pod; it must never deny');
  if ((parsed.response.patch === undefined) !== (parsed.response.patchType === undefined)) throw new Error('patch and patchType must come together');
  const ops: Operation[] = parsed.response.patch ? (JSON.parse(Buffer.from(parsed.response.patch, 'base64').toString('utf8')) as Operation[]) : [];
  return { response: parsed.response, ops, pod: applyPatch(pod, ops) };
}

/**
 * What the API server would check about the patched pod: the published core/v1 schema
 * (kubernetes-models), plus the cross-field rules a schema cannot express.
 */
export function podProblems(pod: PodJson): string[] {
  const problems: string[] = [];
  try {
    new PodModel({ apiVersion: 'v1', kind: 'Pod', ...(pod as object) } as ConstructorParameters<typeof PodModel>[0]).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const names = all.map((c) => c.name);
  if (new Set(names).size !== names.length) problems.push(`container names repeat: ${names.join(', ')}`);
  for (const c of all) if (!c.image) problems.push(`${c.name} has no image`);
  for (const c of pod.spec.containers) if (c.restartPolicy !== undefined) problems.push(`${c.name}: restartPolicy is only allowed on init containers`);
  const ports = all.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
  if (new Set(ports).size !== ports.length) problems.push(`container ports clash: ${ports.join(', ')}`);
  const portNames = all.flatMap((c) => (c.ports ?? []).flatMap((p) => (p.name ? [p.name] : [])));
  if (new Set(portNames).size !== portNames.length) problems.push(`port names clash: ${portNames.join(', ')}`);
  const volumes = new Set((pod.spec.volumes ?? []).map((v) => v.name));
  if (volumes.size !== (pod.spec.volumes ?? []).length) problems.push('volume names repeat');
  for (const c of all) {
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${c.name} mounts missing volume ${m.name}`);
    const envNames = (c.env ?? []).map((e) => e.name);
    if (new Set(envNames).size !== envNames.length) problems.push(`${c.name} repeats env names`);
  }
  return problems;
}

export function container(pod: PodJson, name: string): ContainerJson {
  const c = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

export function envOf(c: ContainerJson, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}
