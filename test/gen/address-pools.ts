// Address sets for scenarios: benign clients, fixed attacker pools and random
// "public" IPv4 addresses that never collide with the victim, the benign pool
// or special-purpose ranges.
import { ipv4FromUint32, uint32FromIpv4 } from './ip-address.js';
import type { Prng } from './prng.js';

/** Special-purpose and project-reserved IPv4 ranges (network, prefix length). */
const EXCLUDED_RANGES: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8], // victim's network
  ['100.64.0.0', 10], // benign client pool
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24], // named attackers
  ['203.0.113.0', 24], // named attackers
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved and broadcast
];

const EXCLUDED = EXCLUDED_RANGES.map(([net, bits]) => {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { net: (uint32FromIpv4(net) & mask) >>> 0, mask };
});

export function isExcludedIpv4(value: number): boolean {
  for (const r of EXCLUDED) if (((value & r.mask) >>> 0) === r.net) return true;
  return false;
}

/** `count` distinct random unicast public-looking IPv4 addresses. */
export function randomPublicIpv4s(prng: Prng, count: number, avoid: ReadonlySet<string> = new Set()): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  while (out.length < count) {
    const v = prng.nextUint32();
    if (isExcludedIpv4(v) || (v & 0xff) === 0 || (v & 0xff) === 255 || seen.has(v)) continue;
    const text = ipv4FromUint32(v);
    if (avoid.has(text)) continue;
    seen.add(v);
    out.push(text);
  }
  return out;
}

/** Deterministic benign clients from 100.64.0.0/10 (host octet 1..254). */
export function benignClientPool(count: number): string[] {
  const base = uint32FromIpv4('100.64.0.0');
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(ipv4FromUint32(base + Math.floor(i / 254) * 256 + (i % 254) + 1));
  return out;
}
