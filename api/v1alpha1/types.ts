// The floodgate.dev/v1alpha1 API's shared pieces: the group and version, the
// validation patterns, and the metav1 shapes every kind embeds (Condition,
// LabelSelector, a Secret key) as zod schemas. Each kind's own schema is in
// its file (defense-policy.ts, block-event.ts), defined with kind.ts; the CRD
// manifests in crds/ are generated from them (deploy/crds.ts, docs/crds.md).

import type { V1ObjectMeta } from '@kubernetes/client-node';
import { z } from 'zod';

export const GROUP = 'floodgate.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** The category every kind belongs to: `kubectl get floodgate`. */
export const CATEGORY = 'floodgate';

export interface ResourceDescriptor {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly scope: 'Namespaced' | 'Cluster';
  /** `<plural>.<group>`: the CRD's metadata.name. */
  readonly crdName: string;
}

/** An object of one of our kinds: `Spec` and `Status` are the kind's (resolved or as written). */
export interface KubeObject<Kind extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: Kind;
  metadata: V1ObjectMeta;
  spec: Spec;
  status?: Status;
}

export interface KubeList<Kind extends string, Item> {
  apiVersion: typeof API_VERSION;
  kind: `${Kind}List`;
  metadata: { resourceVersion?: string; continue?: string };
  items: Item[];
}

// ---------------------------------------------------------------------------
// Validation patterns. The API server evaluates them with Go's RE2, zod with
// JS regular expressions; these use nothing whose meaning differs between the two.

const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;
const H = '[0-9a-fA-F]{1,4}';
const IPV6 =
  `((${H}:){7}${H}|(${H}:){1,7}:|(${H}:){1,6}:${H}|(${H}:){1,5}(:${H}){1,2}|(${H}:){1,4}(:${H}){1,3}` +
  `|(${H}:){1,3}(:${H}){1,4}|(${H}:){1,2}(:${H}){1,5}|${H}:(:${H}){1,6}|:((:${H}){1,7}|:)` +
  `|(${H}:){6}${IPV4}|::(ffff(:0{1,4})?:)?${IPV4}|(${H}:){1,4}:${IPV4})`;

/** One IPv4/IPv6 address, no prefix (no zone ids, no zero-padded octets). */
export const IP_PATTERN = `^(${IPV4}|${IPV6})$`;

/** An IPv4/IPv6 address or CIDR (no zone ids, no zero-padded octets or prefixes). */
export const IP_OR_CIDR_PATTERN = `^(${IPV4}(/(3[0-2]|[12][0-9]|[0-9]))?|${IPV6}(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$`;

/** A loose 5- or 6-field cron expression (digits, names, * / , -). */
export const CRON_PATTERN = '^[0-9A-Za-z*/,-]+( +[0-9A-Za-z*/,-]+){4,5}$';

/**
 * An agent URL: http(s)://host[:port], optionally with a trailing "/"; no
 * path, query, fragment, spaces or userinfo. The API server's first check of
 * the wire contract's rule (api/agent/v1/client.ts agentBaseUrl), which the
 * controller applies again with the address rules and its allowlist.
 */
export const AGENT_URL_PATTERN = '^https?://[A-Za-z0-9._~%\\[\\]:-]+/?$';

/** metav1.Condition reason. */
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

/** metav1.Condition type: an optional DNS-subdomain prefix and a qualified name. */
export const CONDITION_TYPE_PATTERN =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';

/** A DNS subdomain (RFC 1123), e.g. a Secret's name. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** A key of a Secret's data. */
export const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';

/** A namespace name (RFC 1123 label). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const IP_OR_CIDR_RE = new RegExp(IP_OR_CIDR_PATTERN);
export const CRON_RE = new RegExp(CRON_PATTERN);
export const AGENT_URL_RE = new RegExp(AGENT_URL_PATTERN);
export const CONDITION_REASON_RE = new RegExp(CONDITION_REASON_PATTERN);

// ---------------------------------------------------------------------------
// Building blocks for the kinds' schemas.

/** A string matching `pattern`; the CRD carries the pattern as written here. */
export function matching(pattern: string) {
  return z.string().regex(new RegExp(pattern));
}

/** An RFC 3339 time, as the API server writes metav1.Time ("2024-01-02T03:04:05Z"). */
export function dateTime() {
  return z.iso.datetime({ offset: true });
}

/** An integer the CRD declares as int64 (counters, generations). */
export function int64() {
  return z.number().int().meta({ format: 'int64' });
}

/** An integer the CRD declares as int32. */
export function int32() {
  return z.number().int().meta({ format: 'int32' });
}

// ---------------------------------------------------------------------------
// Shared shapes.

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/** metav1.Condition. */
export const conditionSchema = z
  .object({
    type: matching(CONDITION_TYPE_PATTERN).max(316).describe('Condition type in CamelCase, e.g. Ready.'),
    status: z.enum(CONDITION_STATUSES).describe('True, False or Unknown.'),
    observedGeneration: int64().min(0).optional().describe('The metadata.generation the condition was computed from.'),
    lastTransitionTime: dateTime().describe('When the status last changed.'),
    reason: matching(CONDITION_REASON_PATTERN)
      .min(1)
      .max(1024)
      .describe('Machine-readable reason for the last transition, CamelCase.'),
    message: z.string().max(32768).describe('Human-readable detail; may be empty.'),
  })
  .describe('One condition (metav1.Condition).');
export type Condition = z.output<typeof conditionSchema>;

/** status.conditions: one condition per type (a list-map keyed on type). */
export function conditionsSchema(types: readonly string[]) {
  return z
    .array(conditionSchema)
    .max(32)
    .optional()
    .meta({
      description: `Latest observations (metav1.Condition), one per type: ${types.join(', ')}.`,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    });
}

/** The metadata.generation the controller last acted on. */
export function observedGenerationSchema() {
  return int64().min(0).optional().describe('The metadata.generation the controller last acted on.');
}

export const labelSelectorRequirementSchema = z
  .object({
    key: z.string().describe('The label key the selector applies to.'),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('How the key relates to the values.'),
    values: z
      .array(z.string())
      .optional()
      .describe('Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.'),
  })
  .describe('A label key, an operator and values.');
export type LabelSelectorRequirement = z.output<typeof labelSelectorRequirementSchema>;

/** metav1.LabelSelector (atomic: replaced as a whole by apply). */
export const labelSelectorSchema = z
  .object({
    matchLabels: z
      .record(z.string(), z.string())
      .optional()
      .describe('Label key/value pairs; a pod matches when it has all of them (ANDed with matchExpressions).'),
    matchExpressions: z.array(labelSelectorRequirementSchema).optional().describe('Label selector requirements, ANDed.'),
  })
  .meta({ 'x-kubernetes-map-type': 'atomic' });
export type LabelSelector = z.output<typeof labelSelectorSchema>;

/**
 * A key of a Secret: in the object's own namespace, or in `namespace` when
 * the controller allows it (--agent-secret-namespaces; docs/trust-model.md).
 */
export const secretKeyRefSchema = z.object({
  name: matching(DNS_SUBDOMAIN_PATTERN).min(1).max(253).describe("Name of the Secret."),
  key: matching(SECRET_KEY_PATTERN).min(1).max(253).describe("Key within the Secret's data."),
  namespace: matching(DNS_LABEL_PATTERN)
    .min(1)
    .max(63)
    .optional()
    .describe("Namespace of the Secret (default: the object's own); the controller reads only the namespaces --agent-secret-namespaces allows."),
});
export type SecretKeyRef = z.output<typeof secretKeyRefSchema>;
