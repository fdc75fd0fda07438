// RFC 1071 Internet checksum and the TCP/UDP/ICMPv6 pseudo-header sums.

/** One's-complement sum of 16-bit big-endian words, unfolded (callers chain sums through `initial`). */
export function onesComplementSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const evenEnd = data.length & ~1;
  for (let i = 0; i < evenEnd; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8;
  // Fold periodically is unnecessary: 2^53 / 0xffff words is far beyond any packet.
  return sum;
}

/** Final checksum value (complement of the folded sum). */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  let sum = onesComplementSum(data, initial);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Sum of the IPv4 or IPv6 pseudo-header for an upper-layer packet of `length` bytes. */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = onesComplementSum(src) + onesComplementSum(dst) + protocol;
  sum += src.length === 16 ? Math.floor(length / 0x10000) + (length & 0xffff) : length;
  return sum;
}
