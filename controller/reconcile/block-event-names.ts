// BlockEvents the controller creates: deterministic names, one object per
// (policy, address), so a repeated attack extends the existing BlockEvent
// instead of duplicating it, also across controller restarts; owned by their
// policy so deleting the policy garbage-collects them.
//
// A name is "<policy>-<v4|v6>-<address slug>-<hash>": the slug keeps it
// readable, the family tag and the hash of the canonical address keep it
// unique (10.77.0.66 and 10:77:0:66:: slug alike, so do 2001:db8::1 and
// 2001:db8:1::). A name is never trusted on its own: an object found under it
// is the address's only if its spec.ip is the same address (a hand-made object
// may sit on the name); otherwise the longer-hash name is used.
import { createHash } from 'node:crypto';
import { canonicalCidr, parseCidr } from '../../lib/cidr.js';
import { API_VERSION, type BlockEvent, type BlockEventSpec, type DefensePolicy } from '../../api/v1alpha1/index.js';

/** The address as the firewall writes it: "10.0.0.1" for a single address, "10.0.0.0/24" for a network. */
export function canonicalTarget(ip: string): string {
  const parsed = parseCidr(ip);
  if (!parsed) return ip.trim().toLowerCase();
  const full = parsed.family === 4 ? 32 : 128;
  return parsed.prefix === full ? parsed.text.slice(0, parsed.text.lastIndexOf('/')) : parsed.text;
}

/** True when two spec.ip values name the same address or network. */
export function sameTarget(a: string, b: string): boolean {
  return (canonicalCidr(a) ?? a) === (canonicalCidr(b) ?? b);
}

function nameFor(policy: string, ip: string, hashChars: number): string {
  const canonical = canonicalTarget(ip);
  const family = parseCidr(ip)?.family === 6 ? 'v6' : 'v4';
  const hash = createHash('sha256').update(`${family}/${canonical}`).digest('hex').slice(0, hashChars);
  const slug = canonical.replace(/[^0-9a-z]+/g, '-').replace(/^-|-$/g, '');
  const base = `${policy}-${family}-${slug}`.slice(0, 253 - hashChars - 1).replace(/[-.]+$/, '');
  return `${base}-${hash}`;
}

/** The BlockEvent name of `ip` under `policy`. */
export function blockEventName(policy: string, ip: string): string {
  return nameFor(policy, ip, 8);
}

/** The name used when blockEventName is taken by an object for another address. */
export function blockEventFallbackName(policy: string, ip: string): string {
  return nameFor(policy, ip, 24);
}

/**
 * The policy's BlockEvent for `ip`, if any, and the name a new one gets.
 * `name` is undefined when both names are taken by other addresses' objects.
 */
export function findBlockEvent(
  get: (namespace: string, name: string) => BlockEvent | undefined,
  namespace: string,
  policy: string,
  ip: string,
): { existing?: BlockEvent; name?: string } {
  for (const name of [blockEventName(policy, ip), blockEventFallbackName(policy, ip)]) {
    const found = get(namespace, name);
    if (!found) return { name };
    if (sameTarget(found.spec.ip, ip)) return { existing: found, name };
  }
  return {};
}

/** A new BlockEvent for `spec.ip` under `policy`, owned by it, named `name`. */
export function newBlockEvent(
  policy: DefensePolicy,
  name: string,
  spec: Omit<BlockEventSpec, 'policyRef'>,
  meta: { offences: number; labels?: Record<string, string>; annotations?: Record<string, string> },
): BlockEvent {
  const policyName = policy.metadata.name ?? '';
  return {
    apiVersion: API_VERSION,
    kind: 'BlockEvent',
    metadata: {
      name,
      namespace: policy.metadata.namespace ?? 'default',
      labels: { 'floodgate.dev/policy': policyName, ...meta.labels },
      annotations: { 'floodgate.dev/offences': String(meta.offences), ...meta.annotations },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'DefensePolicy', name: policyName, uid: policy.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...spec, policyRef: { name: policyName } },
  };
}
