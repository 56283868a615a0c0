/**
 * AdmissionReview (admission.k8s.io/v1) in, AdmissionReview out. Pure: no I/O, no clock.
 *
 * Two kinds of bad input, handled differently on purpose:
 * - the envelope cannot be answered (not JSON, not an AdmissionReview v1, no request.uid: the
 *   response must echo the uid) → a `Refusal`, which the server sends as HTTP 400;
 * - the envelope is fine but its content is not for us (not a Pod, not CREATE, a pod spec we
 *   cannot read) → `allowed: true`, no patch, and a warning.
 * The webhook never denies. With `failurePolicy: Ignore` both end the same way for the pod,
 * admitted unchanged, but only the second tells the user why.
 */
import { planInjection, type InjectionPlan, type InjectionScope } from './inject';
import { podRef, readPod, isObject } from './pod';
import type { InjectionSettings } from './sidecar';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export type RefusalCode =
  | 'WEBHOOK_BAD_JSON'
  | 'WEBHOOK_NOT_ADMISSION_REVIEW'
  | 'WEBHOOK_UNSUPPORTED_VERSION'
  | 'WEBHOOK_NO_UID'
  | 'WEBHOOK_BODY_TOO_LARGE';

export interface Refusal {
  readonly code: RefusalCode;
  readonly message: string;
}

export interface AdmissionResponseReview {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: true;
    patchType?: 'JSONPatch';
    /** base64 of the JSON array of RFC 6902 operations */
    patch?: string;
    warnings?: string[];
  };
}

export type ReviewOutcome = InjectionPlan['outcome'] | 'not-a-pod' | 'not-create' | 'malformed-pod';

/** What the server logs about one review: names and reasons, never env values. */
export interface ReviewSummary {
  readonly uid: string;
  readonly pod: string;
  readonly outcome: ReviewOutcome;
  readonly rewritten: readonly string[];
  readonly upstreams: readonly string[];
  readonly warnings: readonly string[];
}

export type ReviewResult =
  | { readonly ok: true; readonly review: AdmissionResponseReview; readonly summary: ReviewSummary }
  | { readonly ok: false; readonly refusal: Refusal };

const WARNING_PREFIX = 'amqp-trace-proxy: ';
/** The API server passes warnings to kubectl; a handful is useful, a flood is not. */
const MAX_WARNINGS = 8;

export function reviewAdmission(body: string, scope: InjectionScope, settings: InjectionSettings): ReviewResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return refuse('WEBHOOK_BAD_JSON', 'the request body is not JSON; expected an admission.k8s.io/v1 AdmissionReview');
  }
  if (!isObject(parsed) || parsed['kind'] !== 'AdmissionReview') {
    return refuse('WEBHOOK_NOT_ADMISSION_REVIEW', 'the request body is not an AdmissionReview');
  }
  if (parsed['apiVersion'] !== ADMISSION_API_VERSION) {
    return refuse('WEBHOOK_UNSUPPORTED_VERSION', `only ${ADMISSION_API_VERSION} is supported; set admissionReviewVersions: ["v1"]`);
  }
  const request = parsed['request'];
  if (!isObject(request) || typeof request['uid'] !== 'string' || request['uid'] === '') {
    return refuse('WEBHOOK_NO_UID', 'the AdmissionReview has no request.uid to answer');
  }
  const uid = request['uid'];
  const namespace = typeof request['namespace'] === 'string' ? request['namespace'] : undefined;

  const kind = request['kind'];
  if (!isObject(kind) || kind['group'] !== '' || kind['kind'] !== 'Pod' || (request['subResource'] ?? '') !== '') {
    return answer(uid, '(not a pod)', 'not-a-pod', ['only pods are mutated; configure rules for pods only']);
  }
  if (request['operation'] !== 'CREATE') {
    return answer(uid, '(pod)', 'not-create', ['only CREATE is handled; configure operations: ["CREATE"]']);
  }
  const pod = readPod(request['object']);
  if ('problem' in pod) return answer(uid, '(pod)', 'malformed-pod', [`pod not injected: ${pod.problem}`]);

  const plan = planInjection(pod, scope, settings);
  return answer(uid, podRef(pod, namespace), plan.outcome, plan.warnings, plan);
}

function answer(uid: string, pod: string, outcome: ReviewOutcome, warnings: string[], plan?: InjectionPlan): ReviewResult {
  const response: AdmissionResponseReview['response'] = { uid, allowed: true };
  if (plan && plan.ops.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(plan.ops)).toString('base64');
  }
  if (warnings.length > 0) response.warnings = warnings.slice(0, MAX_WARNINGS).map((w) => WARNING_PREFIX + w);
  return {
    ok: true,
    review: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response },
    summary: { uid, pod, outcome, rewritten: plan?.rewritten ?? [], upstreams: plan?.upstreams ?? [], warnings },
  };
}

function refuse(code: RefusalCode, message: string): ReviewResult {
  return { ok: false, refusal: { code, message } };
}
