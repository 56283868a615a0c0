import { parseUpstreamAnnotation, pointAtSidecar, type RewriteRefusal } from './brokerUrl';
import { pointer, type PatchOp } from './jsonPatch';
import {
  ADMIN_PORT, ENV_VARS_KEY, INJECTED_LABEL, INJECT_KEY, METRICS_PORT, METRICS_PORT_NAME, MODE_VOLUME, PROXY_PORT,
  REWRITTEN_KEY, SIDECAR_NAME, STATUS_KEY, UPSTREAM_KEY,
} from './names';
import type { Container, ContainerList, Pod } from './pod';
import { modeVolume, sidecarContainer, type InjectionSettings } from './sidecar';

/**
 * Which webhook entry of the MutatingWebhookConfiguration sent the pod:
 * - `namespace`: the API server matched the namespace label, so every pod is in scope
 *   unless it opts out (the webhook never sees namespace labels itself);
 * - `pod`: the namespace is not labelled, so only a pod that opts in is injected.
 */
export type InjectionScope = 'namespace' | 'pod';

export type SkipReason =
  | 'opted-out' | 'not-opted-in' | 'already-injected'
  | 'host-network' | 'port-conflict' | 'volume-conflict' | 'no-broker-url';

export interface InjectionPlan {
  readonly outcome: 'injected' | SkipReason;
  /** Empty when nothing changes: a pod the webhook already handled gets no patch (reinvocation-safe). */
  readonly ops: PatchOp[];
  /** Shown to whoever created the pod; names only, never values. */
  readonly warnings: string[];
  /** container/VAR pairs rewritten. */
  readonly rewritten: string[];
  /** scheme://host:port, never credentials: safe to log. */
  readonly upstreams: string[];
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const RESERVED_PORTS = [PROXY_PORT, METRICS_PORT, ADMIN_PORT];

interface Candidate {
  list: ContainerList;
  container: number;
  env: number;
  ref: string;
  appValue: string;
  upstreams: readonly string[];
}

export function planInjection(pod: Pod, scope: InjectionScope, settings: InjectionSettings): InjectionPlan {
  const warnings: string[] = [];
  const meta = pod.metadata ?? {};
  const choice = meta.annotations?.[INJECT_KEY] ?? meta.labels?.[INJECT_KEY];
  if (choice !== undefined && choice !== 'true' && choice !== 'false') warnings.push(`${INJECT_KEY} should be "true" or "false"`);
  if (choice === 'false') return skip('opted-out', warnings);
  if (scope === 'pod' && choice !== 'true') return skip('not-opted-in', warnings);

  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  if (all.some((c) => c.name === SIDECAR_NAME)) return skip('already-injected', warnings);

  const blocked = blockingProblem(pod, all);
  if (blocked) return recordedSkip(pod, blocked.reason, [...warnings, `not injected: ${blocked.why}`]);

  const at = sidecarIndex(pod);
  const names = envVarNames(meta.annotations?.[ENV_VARS_KEY], settings, warnings);
  const pinned = upstreamAnnotation(meta.annotations?.[UPSTREAM_KEY], warnings);
  const candidates = findBrokerUrls(pod, names, at, settings, warnings);

  const upstreams = pinned ?? candidates[0]?.upstreams;
  if (!upstreams) {
    warnings.push(`not injected: none of ${names.join(', ')} holds a broker URL that can be rewritten`);
    return recordedSkip(pod, 'no-broker-url', warnings);
  }
  const key = upstreams.join(',');
  const chosen = candidates.filter((c) => {
    if (c.upstreams.join(',') === key) return true;
    warnings.push(`${c.ref} points at another broker than the sidecar's upstream; not rewritten`);
    return false;
  });

  const ops: PatchOp[] = chosen.map((c) => ({ op: 'replace', path: pointer('spec', c.list, c.container, 'env', c.env, 'value'), value: c.appValue }));
  const sidecar = sidecarContainer(settings, upstreams);
  ops.push(pod.spec.initContainers
    ? { op: 'add', path: pointer('spec', 'initContainers', at), value: sidecar }
    : { op: 'add', path: pointer('spec', 'initContainers'), value: [sidecar] });
  ops.push(pod.spec.volumes
    ? { op: 'add', path: pointer('spec', 'volumes', '-'), value: modeVolume(settings) }
    : { op: 'add', path: pointer('spec', 'volumes'), value: [modeVolume(settings)] });
  const rewritten = chosen.map((c) => c.ref);
  const annotations: Record<string, string> = { [STATUS_KEY]: 'injected' };
  if (rewritten.length > 0) annotations[REWRITTEN_KEY] = rewritten.join(',');
  ops.push(...metadataOps(pod, { annotations, labels: { [INJECTED_LABEL]: 'true' } }));
  return { outcome: 'injected', ops, warnings, rewritten, upstreams: [...upstreams] };
}

/**
 * Where the sidecar goes among the init containers: right after the pod's existing native
 * sidecars (a service mesh proxy may have to be up before ours can reach the broker), and
 * before every regular init container, so those can use it too.
 */
function sidecarIndex(pod: Pod): number {
  const list = pod.spec.initContainers ?? [];
  let at = 0;
  list.forEach((c, i) => {
    if (c['restartPolicy'] === 'Always') at = i + 1;
  });
  return at;
}

function blockingProblem(pod: Pod, all: Container[]): { reason: SkipReason; why: string } | undefined {
  if (pod.spec.hostNetwork === true) {
    return { reason: 'host-network', why: `hostNetwork pods would share ports ${RESERVED_PORTS.join('/')} with the node` };
  }
  for (const c of all) {
    for (const p of c.ports ?? []) {
      if (RESERVED_PORTS.includes(p.containerPort)) return { reason: 'port-conflict', why: `container ${c.name} uses port ${p.containerPort}` };
      if (p.name === METRICS_PORT_NAME) return { reason: 'port-conflict', why: `container ${c.name} has a port named ${METRICS_PORT_NAME}` };
    }
  }
  if ((pod.spec.volumes ?? []).some((v) => v.name === MODE_VOLUME)) {
    return { reason: 'volume-conflict', why: `the pod already has a volume named ${MODE_VOLUME}` };
  }
  return undefined;
}

function envVarNames(annotation: string | undefined, settings: InjectionSettings, warnings: string[]): readonly string[] {
  if (annotation === undefined) return settings.envVarNames;
  const names: string[] = [];
  for (const raw of annotation.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    if (ENV_NAME.test(name)) names.push(name);
    else warnings.push(`${ENV_VARS_KEY}: "${name.slice(0, 64)}" is not an env var name; ignored`);
  }
  return names.length > 0 ? names : settings.envVarNames;
}

function upstreamAnnotation(annotation: string | undefined, warnings: string[]): string[] | undefined {
  if (annotation === undefined) return undefined;
  const parsed = parseUpstreamAnnotation(annotation);
  // The value is not echoed: someone may have pasted a URL with credentials into it.
  if (!parsed) warnings.push(`${UPSTREAM_KEY} is not a comma list of amqp[s]://host[:port]; ignored`);
  return parsed;
}

const REFUSAL_TEXT: Record<RewriteRefusal, string> = {
  'not-an-amqp-url': 'not an amqp[s]:// URL',
  'no-host': 'the URL names no host',
  'host-is-a-variable': 'the host is a $(VAR) reference',
  'already-points-at-sidecar': 'already points at the sidecar',
};

/** `initFrom`: init containers before this index start before the sidecar and keep their env. */
function findBrokerUrls(pod: Pod, names: readonly string[], initFrom: number, settings: InjectionSettings, warnings: string[]): Candidate[] {
  const found: Candidate[] = [];
  const sidecar = { host: settings.rewriteHost, port: PROXY_PORT };
  for (const list of ['containers', 'initContainers'] as const) {
    for (const [ci, c] of (pod.spec[list] ?? []).entries()) {
      const env = c.env ?? [];
      if (list === 'initContainers' && ci < initFrom) {
        if (env.some((e) => names.includes(e.name))) warnings.push(`${c.name} starts before the sidecar; its env is not rewritten`);
        continue;
      }
      if (c.envFrom !== undefined && !env.some((e) => names.includes(e.name))) {
        warnings.push(`${c.name} loads env from envFrom; a broker URL there is not rewritten`);
      }
      for (const [ei, e] of env.entries()) {
        if (!names.includes(e.name)) continue;
        const ref = `${c.name}/${e.name}`;
        if (e.valueFrom !== undefined) {
          warnings.push(`${ref} comes from a Secret or ConfigMap and cannot be rewritten (see DEPLOY.md)`);
          continue;
        }
        if (e.value === undefined || e.value === '') continue;
        const r = pointAtSidecar(e.value, sidecar);
        if (r.ok) found.push({ list, container: ci, env: ei, ref, appValue: r.appValue, upstreams: r.upstreams });
        else warnings.push(`${ref} not rewritten: ${REFUSAL_TEXT[r.reason]}`);
      }
    }
  }
  return found;
}

/** `add` on an existing member replaces it (RFC 6902 §4.1); a map (or metadata) is added whole when absent. */
function metadataOps(pod: Pod, wanted: { annotations?: Record<string, string>; labels?: Record<string, string> }): PatchOp[] {
  if (pod.metadata === undefined) return [{ op: 'add', path: pointer('metadata'), value: wanted }];
  const ops: PatchOp[] = [];
  for (const field of ['annotations', 'labels'] as const) {
    const want = wanted[field];
    if (want === undefined) continue;
    const current = pod.metadata[field];
    if (current === undefined) {
      ops.push({ op: 'add', path: pointer('metadata', field), value: want });
      continue;
    }
    for (const [k, v] of Object.entries(want)) {
      if (current[k] !== v) ops.push({ op: 'add', path: pointer('metadata', field, k), value: v });
    }
  }
  return ops;
}

function skip(outcome: SkipReason, warnings: string[]): InjectionPlan {
  return { outcome, ops: [], warnings, rewritten: [], upstreams: [] };
}

/** A pod that asked for the sidecar but cannot have it: recorded on the pod so `kubectl describe` says why. */
function recordedSkip(pod: Pod, outcome: SkipReason, warnings: string[]): InjectionPlan {
  const ops = metadataOps(pod, { annotations: { [STATUS_KEY]: `skipped:${outcome}` } });
  return { outcome, ops, warnings, rewritten: [], upstreams: [] };
}
