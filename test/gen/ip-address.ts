// Textual IP addresses <-> bytes. Node has no inet_pton, so IPv6 parsing is
// done here; formatting goes through WHATWG URL, which prints RFC 5952 form
// (the same form glibc's inet_ntop prints for non-mapped addresses).
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export function ipFamily(addr: string): IpFamily {
  return ipToBytes(addr).length === 4 ? 4 : 6;
}

// Scenario generators turn the same few hundred thousand addresses into bytes
// millions of times; parsing once keeps generation fast. Bounded so a huge
// random-source run cannot grow it without limit.
const parsed = new Map<string, Buffer>();
const PARSED_LIMIT = 1 << 20;

function cached(addr: string): Buffer {
  let b = parsed.get(addr);
  if (b === undefined) {
    b = parseIp(addr);
    if (parsed.size >= PARSED_LIMIT) parsed.clear();
    parsed.set(addr, b);
  }
  return b;
}

/** IPv4 address bytes. The returned buffer is shared: do not mutate it. */
export function ipv4ToBytes(addr: string): Buffer {
  const b = cached(addr);
  if (b.length !== 4) throw new Error(`not an IPv4 address: ${addr}`);
  return b;
}

/** IPv6 address bytes. The returned buffer is shared: do not mutate it. */
export function ipv6ToBytes(addr: string): Buffer {
  const b = cached(addr);
  if (b.length !== 16) throw new Error(`not an IPv6 address: ${addr}`);
  return b;
}

/** 4 or 16 address bytes (shared: do not mutate). */
export function ipToBytes(addr: string): Buffer {
  return cached(addr);
}

function parseIp(addr: string): Buffer {
  if (isIPv4(addr)) return Buffer.from(addr.split('.').map(Number));
  if (!isIPv6(addr) || addr.includes('.')) throw new Error(`not an IPv4 or plain IPv6 address: ${addr}`);
  const [head = '', tail] = addr.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function ipv4FromUint32(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

export function uint32FromIpv4(addr: string): number {
  return ipv4ToBytes(addr).readUInt32BE(0);
}

/** Canonical text for 4 or 16 address bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new Error(`bad address length ${bytes.length}`);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
