// Deterministic BlockEvent names: one object per (policy, address), so a
// repeated attack extends the existing BlockEvent instead of duplicating it,
// also across controller restarts.
import { createHash } from 'node:crypto';

export function blockEventName(policy: string, ip: string): string {
  const slug = ip.toLowerCase().replace(/[^0-9a-z]+/g, '-').replace(/^-|-$/g, '');
  const base = `${policy}-${slug}`;
  if (base.length <= 253 - 9) return base;
  const hash = createHash('sha256').update(`${policy}/${ip}`).digest('hex').slice(0, 8);
  return `${base.slice(0, 240)}-${hash}`;
}
