// Text forms of the engine's 16-byte address keys (IPv4 is v4-mapped).

/** Format 16 bytes at `offset` as an IPv4 (when v4-mapped) or canonical IPv6 string. */
export function formatAddressKey(bytes: Uint8Array, offset = 0): { addr: string; family: 4 | 6 } {
  let mapped = bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) if (bytes[offset + i] !== 0) mapped = false;
  if (mapped) {
    const o = offset + 12;
    return { addr: `${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`, family: 4 };
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!).toString(16));
  // The WHATWG URL parser prints IPv6 in RFC 5952 canonical form (longest zero run compressed).
  return { addr: new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1), family: 6 };
}
