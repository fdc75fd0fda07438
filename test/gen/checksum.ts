// RFC 1071 Internet checksum and the TCP/UDP/ICMPv6 pseudo-header sums.

/** One's-complement sum of 16-bit big-endian words, unfolded (callers chain sums through `initial`). */
export function onesComplementSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const evenEnd = data.length & ~1;
  for (let i = 0; i < evenEnd; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  // No intermediate folding needed: overflowing 2^53 takes far more words than any packet has.
  return sum;
}

/** onesComplementSum over data[start, end) without creating a view (hot loops). */
export function onesComplementSumRange(data: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8;
  return sum;
}

/** Fold a one's-complement sum and complement it. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Final checksum value (complement of the folded sum). */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return finishChecksum(onesComplementSum(data, initial));
}

/** Sum of the IPv4 or IPv6 pseudo-header for an upper-layer packet of `length` bytes. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = onesComplementSum(src) + onesComplementSum(dst) + protocol;
  sum += src.length === 16 ? Math.floor(length / 0x10000) + (length & 0xffff) : length;
  return sum;
}
