// HyperLogLog helpers matching native/src/hll.h: register j holds
// 1 + the number of leading zeros of the hash bits after the index bits.
// The C side fills registers per slot; JS merges slots (register-wise max)
// and estimates distinct sources over any window.

/** Registers in a slot-wide source sketch (p = 12). */
export const SLOT_SKETCH_REGISTERS = 4096;
/** Registers in a per-destination source sketch (p = 8). */
export const DEST_SKETCH_REGISTERS = 256;

/** Merge `from` into `into` in place (union of the two sets). */
export function mergeSketch(into: Uint8Array, from: Uint8Array): void {
  if (into.length !== from.length) throw new Error(`sketch size mismatch: ${into.length} vs ${from.length}`);
  for (let i = 0; i < into.length; i++) {
    const v = from[i]!;
    if (v > into[i]!) into[i] = v;
  }
}

/** Standard HLL estimate with linear counting for small cardinalities. */
export function estimateSketch(registers: Uint8Array): number {
  const m = registers.length;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    const r = registers[i]!;
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
  const raw = (alpha * m * m) / sum;
  if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
  return Math.round(raw);
}
