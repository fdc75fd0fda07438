// Zero-filled buffers from Node's pooled allocator. Buffer.alloc creates a
// fresh ArrayBuffer per call (about a microsecond each), which dominated
// generating millions of small packets; allocUnsafe+fill is several times faster.

export function zeroed(length: number): Buffer {
  return Buffer.allocUnsafe(length).fill(0);
}
