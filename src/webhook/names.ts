/**
 * The names the injection webhook shares with the manifests in k8s/ and with the people who
 * annotate their pods. Changing one of these is a breaking change for every opted-in team.
 */

/** Container name of the injected proxy; its presence is how "already injected" is detected. */
export const SIDECAR_NAME = 'amqp-trace-proxy';

/**
 * Opt in ("true") or out ("false"). Read from the pod's annotations first, then its labels,
 * so a team can use either (a label also works with an objectSelector).
 */
export const INJECT_KEY = 'amqp-trace-proxy.io/inject';
/** Comma list of env var names holding broker URLs; replaces the webhook's default list. */
export const ENV_VARS_KEY = 'amqp-trace-proxy.io/env-vars';
/** Explicit upstream for the sidecar (amqp[s]://host[:port], comma list); see DEPLOY.md. */
export const UPSTREAM_KEY = 'amqp-trace-proxy.io/upstream';
/** Written by the webhook: "injected" or "skipped:<reason>", so `kubectl describe` tells why. */
export const STATUS_KEY = 'amqp-trace-proxy.io/status';
/** Written by the webhook: container/VAR pairs it rewrote (names only, never values). */
export const REWRITTEN_KEY = 'amqp-trace-proxy.io/rewritten-env';
/** Pod label added on injection so one PodMonitor can select every injected pod. */
export const INJECTED_LABEL = 'amqp-trace-proxy.io/injected';

export const DEFAULT_ENV_VARS: readonly string[] = ['AMQP_URL', 'CELERY_BROKER_URL', 'BROKER_URL'];

/** Where the application finds the proxy inside the pod. */
export const PROXY_PORT = 5673;
export const METRICS_PORT = 9464;
export const ADMIN_PORT = 9465;
/** Container port name of the metrics listener (15 characters at most, IANA_SVC_NAME). */
export const METRICS_PORT_NAME = 'proxy-metrics';

/** The runtime bypass switch: a ConfigMap key mounted as a directory (subPath mounts never update). */
export const MODE_VOLUME = 'amqp-trace-proxy-mode';
export const MODE_DIR = '/etc/amqp-trace-proxy';
export const MODE_FILE = `${MODE_DIR}/mode`;
export const DEFAULT_MODE_CONFIGMAP = 'amqp-trace-proxy-mode';

/** The image's `node` user (docker/Dockerfile): numeric so `runAsNonRoot` can be verified. */
export const SIDECAR_UID = 1000;
