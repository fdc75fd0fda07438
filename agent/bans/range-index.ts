// "Does this CIDR overlap any of these?" in O(log n). The address policy asks
// it for every ban (10,000 in a batch) against loopback, the host's own
// addresses, gateways, resolvers and an allowlist that may hold thousands of
// CIDRs. A CIDR is an interval of addresses, so the protected CIDRs are merged
// into sorted, disjoint intervals once, and each question is a binary search.

import type { Cidr } from '../../lib/cidr.js';

/** Sorted, disjoint [start, end] intervals of one family. */
interface Intervals<N> {
  starts: N[];
  ends: N[];
}

function v4Start(bytes: Uint8Array): number {
  return (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;
}

/** First and last address of an IPv4 CIDR as unsigned 32-bit numbers. */
export function v4Interval(cidr: Cidr): [number, number] {
  const start = v4Start(cidr.bytes);
  return [start, start + 2 ** (32 - cidr.prefix) - 1];
}

/** First and last address of an IPv6 CIDR as 128-bit bigints. */
export function v6Interval(cidr: Cidr): [bigint, bigint] {
  let start = 0n;
  for (let i = 0; i < 16; i++) start = (start << 8n) | BigInt(cidr.bytes[i] ?? 0);
  return [start, start + (1n << BigInt(128 - cidr.prefix)) - 1n];
}

function merge<N extends number | bigint>(intervals: [N, N][]): Intervals<N> {
  intervals.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const starts: N[] = [];
  const ends: N[] = [];
  for (const [start, end] of intervals) {
    const last = ends.length - 1;
    if (last >= 0 && start <= (ends[last] as N)) {
      if (end > (ends[last] as N)) ends[last] = end;
    } else {
      starts.push(start);
      ends.push(end);
    }
  }
  return { starts, ends };
}

/** True when [start, end] intersects one of the merged intervals. */
function intersects<N extends number | bigint>(set: Intervals<N>, start: N, end: N): boolean {
  // The first interval whose end is >= start is the only candidate: those
  // before it end too early, those after it start after it does.
  let lo = 0;
  let hi = set.ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((set.ends[mid] as N) < start) lo = mid + 1;
    else hi = mid;
  }
  return lo < set.starts.length && (set.starts[lo] as N) <= end;
}

export class RangeIndex {
  private readonly v4: Intervals<number>;
  private readonly v6: Intervals<bigint>;

  constructor(cidrs: Iterable<Cidr>) {
    const v4: [number, number][] = [];
    const v6: [bigint, bigint][] = [];
    for (const cidr of cidrs) {
      if (cidr.family === 4) v4.push(v4Interval(cidr));
      else v6.push(v6Interval(cidr));
    }
    this.v4 = merge(v4);
    this.v6 = merge(v6);
  }

  /** Does `cidr` share at least one address with a CIDR of the index? */
  overlaps(cidr: Cidr): boolean {
    if (cidr.family === 4) {
      const [start, end] = v4Interval(cidr);
      return intersects(this.v4, start, end);
    }
    const [start, end] = v6Interval(cidr);
    return intersects(this.v6, start, end);
  }
}
