// Minimal reader for classic pcap and pcapng (either byte order), used by the
// tests and by the reference classifier to check what the writer produced.
import { readFileSync } from 'node:fs';

export interface CaptureRecord {
  linktype: number;
  /** Microseconds since the epoch (nanosecond files are rounded down). */
  timestampUs: number;
  caplen: number;
  len: number;
  data: Buffer;
}

export interface CaptureFileInfo {
  format: 'pcap' | 'pcapng';
  /** Link type of the (first) interface. */
  linktype: number;
  snaplen: number;
  records: CaptureRecord[];
}

export function readCaptureFile(path: string): CaptureFileInfo {
  return parseCapture(readFileSync(path));
}

export function parseCapture(buf: Buffer): CaptureFileInfo {
  if (buf.length < 4) throw new Error('file too short');
  return buf.readUInt32LE(0) === 0x0a0d0d0a ? parsePcapng(buf) : parsePcap(buf);
}

function parsePcap(buf: Buffer): CaptureFileInfo {
  const magicLe = buf.readUInt32LE(0);
  const magicBe = buf.readUInt32BE(0);
  const le = magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d;
  const magic = le ? magicLe : magicBe;
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`bad pcap magic 0x${magicLe.toString(16)}`);
  const nanos = magic === 0xa1b23c4d;
  const u32 = (at: number): number => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const snaplen = u32(16);
  const linktype = u32(20) & 0x0fffffff;
  const records: CaptureRecord[] = [];
  let at = 24;
  while (at + 16 <= buf.length) {
    const sec = u32(at);
    const frac = u32(at + 4);
    const caplen = u32(at + 8);
    const len = u32(at + 12);
    if (at + 16 + caplen > buf.length) throw new Error(`record at ${at} runs past the end of the file`);
    const timestampUs = sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac);
    records.push({ linktype, timestampUs, caplen, len, data: buf.subarray(at + 16, at + 16 + caplen) });
    at += 16 + caplen;
  }
  if (at !== buf.length) throw new Error(`${buf.length - at} trailing bytes`);
  return { format: 'pcap', linktype, snaplen, records };
}

interface PcapngInterface {
  linktype: number;
  snaplen: number;
  /** Units per second. */
  unitsPerSecond: bigint;
}

function parsePcapng(buf: Buffer): CaptureFileInfo {
  let le = true;
  const u16 = (at: number): number => (le ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const u32 = (at: number): number => (le ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const interfaces: PcapngInterface[] = [];
  const records: CaptureRecord[] = [];
  let at = 0;
  while (at + 12 <= buf.length) {
    const type = buf.readUInt32LE(at);
    if (type === 0x0a0d0d0a) {
      le = buf.readUInt32LE(at + 8) === 0x1a2b3c4d;
      interfaces.length = 0;
    }
    const total = u32(at + 4);
    if (total < 12 || total % 4 !== 0 || at + total > buf.length) throw new Error(`bad block length ${total} at ${at}`);
    if (u32(at + total - 4) !== total) throw new Error(`trailing block length mismatch at ${at}`);
    const body = at + 8;
    const bodyEnd = at + total - 4;
    if (type === 1) {
      let unitsPerSecond = 1_000_000n;
      for (let o = body + 8; o + 4 <= bodyEnd; ) {
        const code = u16(o);
        const olen = u16(o + 2);
        if (code === 0) break;
        if (code === 9) {
          const v = buf[o + 4]!;
          unitsPerSecond = v & 0x80 ? 2n ** BigInt(v & 0x7f) : 10n ** BigInt(v);
        }
        o += 4 + ((olen + 3) & ~3);
      }
      interfaces.push({ linktype: u16(body), snaplen: u32(body + 4), unitsPerSecond });
    } else if (type === 6) {
      const iface = interfaces[u32(body)];
      if (!iface) throw new Error(`EPB for unknown interface at ${at}`);
      const ts = (BigInt(u32(body + 4)) << 32n) | BigInt(u32(body + 8));
      const caplen = u32(body + 12);
      const len = u32(body + 16);
      if (body + 20 + caplen > bodyEnd) throw new Error(`EPB data runs past its block at ${at}`);
      const timestampUs = Number((ts * 1_000_000n) / iface.unitsPerSecond);
      records.push({ linktype: iface.linktype, timestampUs, caplen, len, data: buf.subarray(body + 20, body + 20 + caplen) });
    }
    at += total;
  }
  if (at !== buf.length) throw new Error(`${buf.length - at} trailing bytes`);
  const first = interfaces[0];
  if (!first) throw new Error('pcapng without an interface description block');
  return { format: 'pcapng', linktype: first.linktype, snaplen: first.snaplen, records };
}
