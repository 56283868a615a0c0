import type { Container, EnvVar } from './pod';
import {
  ADMIN_PORT, METRICS_PORT, METRICS_PORT_NAME, MODE_DIR, MODE_FILE, MODE_VOLUME, PROXY_PORT, SIDECAR_NAME, SIDECAR_UID,
  DEFAULT_ENV_VARS, DEFAULT_MODE_CONFIGMAP,
} from './names';

/** What the cluster operator decides about every injected sidecar (webhook flags). */
export interface InjectionSettings {
  readonly sidecarImage: string;
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Env vars searched for broker URLs when a pod does not name its own. */
  readonly envVarNames: readonly string[];
  /**
   * Loopback address the application is pointed at. An IP literal on purpose: `localhost`
   * may resolve to ::1 first, and a proxy listening on 127.0.0.1 would then refuse it.
   */
  readonly rewriteHost: '127.0.0.1' | '::1';
  /** ConfigMap (in the pod's namespace) holding the `mode` key; optional, see DEPLOY.md. */
  readonly modeConfigMap: string;
  /** Extra or overriding env for the sidecar (OTEL_* and the like), in order: a literal, or a key of a Secret. */
  readonly sidecarEnv: readonly (readonly [string, string | SecretKeyRef])[];
}

/** A key of a Secret in the pod's namespace: the pod spec names it, the kubelet reads the value. */
export interface SecretKeyRef {
  readonly secret: string;
  readonly key: string;
}

export const DEFAULT_INJECTION_SETTINGS: Omit<InjectionSettings, 'sidecarImage'> = {
  imagePullPolicy: 'IfNotPresent',
  envVarNames: DEFAULT_ENV_VARS,
  rewriteHost: '127.0.0.1',
  modeConfigMap: DEFAULT_MODE_CONFIGMAP,
  sidecarEnv: [],
};

/** Env the webhook derives itself; letting --sidecar-env change them would break the rewrite or the probes. */
export const DERIVED_SIDECAR_ENV: readonly string[] = ['PROXY_LISTEN', 'PROXY_UPSTREAM', 'METRICS_LISTEN', 'PROXY_MODE_FILE'];

/**
 * V8 heap settings for the injected sidecar (issue 24, docs/PERFORMANCE.md), replaceable with
 * `--sidecar-env NODE_OPTIONS=...`. The image itself keeps Node's defaults.
 *
 * --max-semi-space-size=2: the young generation's semi-spaces grow to 16 MB by default and
 * stay committed; at 2 MB an idle proxy's RSS is about 4 MB lower. At 1 MB it was 5.5 MB
 * lower, but flat out the scavenges cost a fifth more CPU per message; at 2 MB no difference
 * showed at 500 msg/s or flat out.
 *
 * --max-old-space-size=160: under the sidecar's 256 MiB limit Node 20 sets the heap limit to
 * the whole of it (259 MB measured in a 256 MiB container), so the kernel would kill the
 * process before V8 collected hard or failed with a message. 160 MB holds the start-up heap
 * (about 12 MB), the 64 MiB message-state budget (--state-max-bytes) and the span queue,
 * and leaves about 96 MB for what is not in the heap: the binary, socket buffers, native code.
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=160';

/** Sidecar and app stop within the pod's grace period (30 s by default), app first. */
const DRAIN_TIMEOUT_MS = 10_000;

export function listenAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The proxy as a native sidecar (KEP-753, Kubernetes 1.29+): an init container with
 * `restartPolicy: Always` starts before the application containers (once its startup probe
 * passes) and is stopped after they have exited, so the application never sees it missing.
 */
export function sidecarContainer(settings: InjectionSettings, upstreams: readonly string[]): Container {
  const http = (path: string) => ({ path, port: METRICS_PORT, scheme: 'HTTP' });
  return {
    name: SIDECAR_NAME,
    image: settings.sidecarImage,
    imagePullPolicy: settings.imagePullPolicy,
    restartPolicy: 'Always',
    env: sidecarEnv(settings, upstreams),
    ports: [{ name: METRICS_PORT_NAME, containerPort: METRICS_PORT, protocol: 'TCP' }],
    // Startup gates the application containers: they start once the proxy listens and reaches the broker.
    startupProbe: { httpGet: http('/readyz'), periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 60 },
    readinessProbe: { httpGet: http('/readyz'), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
    livenessProbe: { httpGet: http('/healthz'), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    // The kubelet stops a native sidecar only after the app containers have exited; the pause
    // lets the last confirms and span exports leave before SIGTERM starts the proxy's drain.
    lifecycle: { preStop: { exec: { command: ['/bin/sleep', '2'] } } },
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SIDECAR_UID,
      runAsGroup: SIDECAR_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: MODE_VOLUME, mountPath: MODE_DIR, readOnly: true }],
  };
}

/** `optional: true`: a namespace without the ConfigMap still runs, in the ENABLE_TRACE_PROPAGATION mode. */
export function modeVolume(settings: InjectionSettings): { name: string; configMap: unknown } {
  return {
    name: MODE_VOLUME,
    configMap: { name: settings.modeConfigMap, optional: true, items: [{ key: 'mode', path: 'mode' }] },
  };
}

function sidecarEnv(settings: InjectionSettings, upstreams: readonly string[]): EnvVar[] {
  const env: EnvVar[] = [
    { name: 'PROXY_LISTEN', value: listenAddress(settings.rewriteHost, PROXY_PORT) },
    { name: 'PROXY_UPSTREAM', value: upstreams.join(',') },
    { name: 'METRICS_LISTEN', value: listenAddress('0.0.0.0', METRICS_PORT) },
    { name: 'ADMIN_LISTEN', value: listenAddress('127.0.0.1', ADMIN_PORT) },
    { name: 'PROXY_MODE_FILE', value: MODE_FILE },
    { name: 'ENABLE_TRACE_PROPAGATION', value: 'true' },
    { name: 'DRAIN_TIMEOUT_MS', value: String(DRAIN_TIMEOUT_MS) },
    { name: 'OTEL_SERVICE_NAME', value: SIDECAR_NAME },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'OTEL_RESOURCE_ATTRIBUTES', value: 'k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)' },
    { name: 'NODE_OPTIONS', value: SIDECAR_NODE_OPTIONS },
  ];
  for (const [name, value] of settings.sidecarEnv) {
    const entry: EnvVar = typeof value === 'string' ? { name, value } : { name, valueFrom: { secretKeyRef: { name: value.secret, key: value.key } } };
    const at = env.findIndex((e) => e.name === name);
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  return env;
}
