// Streaming capture-file writers: classic pcap and pcapng (SHB + one IDB +
// one EPB per packet), little-endian. Records are assembled in a large
// in-memory chunk and flushed with fs.writeSync, so millions of packets
// cost a few hundred write calls.
import { closeSync, openSync, writeSync } from 'node:fs';

export type CaptureFormat = 'pcap' | 'pcapng';
export type TimestampResolution = 'us' | 'ns';

export interface CaptureWriterOptions {
  linktype: number;
  format?: CaptureFormat;
  /** Maximum bytes kept per packet; longer frames are cut (caplen < len). Default 262144. */
  snaplen?: number;
  /** Resolution stored in the file; input timestamps are always microseconds. Default 'us'. */
  resolution?: TimestampResolution;
  /** pcapng if_name option. */
  interfaceName?: string;
  /** Buffer size before a write(2). Default 1 MiB. */
  chunkBytes?: number;
}

export interface CaptureWriter {
  /**
   * Append one packet. `originalLength` is the on-the-wire length (pcap `len`),
   * defaulting to frame.length; it may exceed the frame when the caller built
   * only the first bytes. The stored bytes are the first min(frame.length, snaplen).
   */
  writePacket(frame: Uint8Array, timestampUs: number, originalLength?: number): void;
  close(): void;
  readonly packetsWritten: number;
  readonly bytesWritten: number;
}

export const DEFAULT_SNAPLEN = 262144;
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;

export function openCaptureWriter(path: string, options: CaptureWriterOptions): CaptureWriter {
  return (options.format ?? 'pcap') === 'pcap' ? new PcapWriter(path, options) : new PcapngWriter(path, options);
}

export interface TimedFrame {
  frame: Uint8Array;
  timestampUs: number;
  originalLength?: number;
}

/** Convenience: write a whole list and close. Returns the packet count. */
export function writeCaptureFile(path: string, options: CaptureWriterOptions, packets: Iterable<TimedFrame>): number {
  const w = openCaptureWriter(path, options);
  try {
    for (const p of packets) w.writePacket(p.frame, p.timestampUs, p.originalLength);
  } finally {
    w.close();
  }
  return w.packetsWritten;
}

/** Append-only file with a reusable chunk buffer. */
class ChunkedFile {
  readonly buf: Buffer;
  offset = 0;
  written = 0;
  private readonly fd: number;

  constructor(path: string, chunkBytes: number) {
    this.fd = openSync(path, 'w');
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /** Make room for `n` contiguous bytes at `offset` (n must fit in one chunk). */
  reserve(n: number): void {
    if (n > this.buf.length) throw new Error(`record of ${n} bytes exceeds the ${this.buf.length}-byte chunk`);
    if (this.offset + n > this.buf.length) this.flush();
  }

  flush(): void {
    let done = 0;
    while (done < this.offset) done += writeSync(this.fd, this.buf, done, this.offset - done);
    this.written += this.offset;
    this.offset = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

abstract class BaseWriter implements CaptureWriter {
  packetsWritten = 0;
  protected readonly file: ChunkedFile;
  protected readonly snaplen: number;
  protected readonly nanos: boolean;
  private closed = false;

  constructor(path: string, options: CaptureWriterOptions) {
    this.file = new ChunkedFile(path, options.chunkBytes ?? 1 << 20);
    this.snaplen = options.snaplen ?? DEFAULT_SNAPLEN;
    this.nanos = options.resolution === 'ns';
  }

  get bytesWritten(): number {
    return this.file.written + this.file.offset;
  }

  writePacket(frame: Uint8Array, timestampUs: number, originalLength = frame.length): void {
    if (this.closed) throw new Error('writer is closed');
    if (!Number.isSafeInteger(timestampUs) || timestampUs < 0) throw new Error(`bad timestamp ${timestampUs}`);
    const caplen = Math.min(frame.length, this.snaplen);
    if (originalLength < caplen) throw new Error(`original length ${originalLength} < captured ${caplen}`);
    this.writeRecord(frame, caplen, originalLength, timestampUs);
    this.packetsWritten++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.file.close();
  }

  protected abstract writeRecord(frame: Uint8Array, caplen: number, len: number, timestampUs: number): void;
}

class PcapWriter extends BaseWriter {
  constructor(path: string, options: CaptureWriterOptions) {
    super(path, options);
    const h = this.file.buf;
    this.file.reserve(24);
    h.writeUInt32LE(this.nanos ? PCAP_MAGIC_NS : PCAP_MAGIC_US, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8); // thiszone
    h.writeUInt32LE(0, 12); // sigfigs
    h.writeUInt32LE(this.snaplen, 16);
    h.writeUInt32LE(options.linktype, 20);
    this.file.offset = 24;
  }

  protected writeRecord(frame: Uint8Array, caplen: number, len: number, timestampUs: number): void {
    const f = this.file;
    f.reserve(16 + caplen);
    const b = f.buf;
    const at = f.offset;
    const sec = Math.floor(timestampUs / 1e6);
    const us = timestampUs - sec * 1e6;
    b.writeUInt32LE(sec, at);
    b.writeUInt32LE(this.nanos ? us * 1000 : us, at + 4);
    b.writeUInt32LE(caplen, at + 8);
    b.writeUInt32LE(len, at + 12);
    b.set(caplen === frame.length ? frame : frame.subarray(0, caplen), at + 16);
    f.offset = at + 16 + caplen;
  }
}

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_EPB = 0x00000006;
const OPT_ENDOFOPT = 0;
const OPT_SHB_USERAPPL = 4;
const OPT_IF_NAME = 2;
const OPT_IF_TSRESOL = 9;

class PcapngWriter extends BaseWriter {
  constructor(path: string, options: CaptureWriterOptions) {
    super(path, options);
    this.writeBlock(BT_SHB, pcapngSectionBody());
    this.writeBlock(BT_IDB, pcapngInterfaceBody(options.linktype, this.snaplen, options.interfaceName, this.nanos));
  }

  protected writeRecord(frame: Uint8Array, caplen: number, len: number, timestampUs: number): void {
    const f = this.file;
    const padded = (caplen + 3) & ~3;
    const total = 32 + padded;
    f.reserve(total);
    const b = f.buf;
    const at = f.offset;
    let high: number;
    let low: number;
    if (this.nanos) {
      const ts = BigInt(timestampUs) * 1000n;
      high = Number(ts >> 32n);
      low = Number(ts & 0xffffffffn);
    } else {
      high = Math.floor(timestampUs / 0x100000000);
      low = timestampUs - high * 0x100000000;
    }
    b.writeUInt32LE(BT_EPB, at);
    b.writeUInt32LE(total, at + 4);
    b.writeUInt32LE(0, at + 8); // interface id
    b.writeUInt32LE(high, at + 12);
    b.writeUInt32LE(low, at + 16);
    b.writeUInt32LE(caplen, at + 20);
    b.writeUInt32LE(len, at + 24);
    b.set(caplen === frame.length ? frame : frame.subarray(0, caplen), at + 28);
    b.fill(0, at + 28 + caplen, at + 28 + padded);
    b.writeUInt32LE(total, at + 28 + padded);
    f.offset = at + total;
  }

  private writeBlock(type: number, body: Buffer): void {
    const total = 12 + body.length;
    this.file.reserve(total);
    const b = this.file.buf;
    const at = this.file.offset;
    b.writeUInt32LE(type, at);
    b.writeUInt32LE(total, at + 4);
    body.copy(b, at + 8);
    b.writeUInt32LE(total, at + 8 + body.length);
    this.file.offset = at + total;
  }
}

function pcapngSectionBody(): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(0x1a2b3c4d, 0); // byte-order magic
  fixed.writeUInt16LE(1, 4);
  fixed.writeUInt16LE(0, 6);
  fixed.writeBigInt64LE(-1n, 8); // section length unknown
  return Buffer.concat([fixed, pcapngOption(OPT_SHB_USERAPPL, Buffer.from('floodgate test/gen')), pcapngOption(OPT_ENDOFOPT, Buffer.alloc(0))]);
}

function pcapngInterfaceBody(linktype: number, snaplen: number, name: string | undefined, nanos: boolean): Buffer {
  const fixed = Buffer.alloc(8);
  fixed.writeUInt16LE(linktype, 0);
  fixed.writeUInt32LE(snaplen, 4);
  const options: Buffer[] = [];
  if (name !== undefined) options.push(pcapngOption(OPT_IF_NAME, Buffer.from(name)));
  // Absent if_tsresol means microseconds; only the non-default is written.
  if (nanos) options.push(pcapngOption(OPT_IF_TSRESOL, Buffer.from([9])));
  if (options.length > 0) options.push(pcapngOption(OPT_ENDOFOPT, Buffer.alloc(0)));
  return Buffer.concat([fixed, ...options]);
}

function pcapngOption(code: number, value: Buffer): Buffer {
  const o = Buffer.alloc(4 + ((value.length + 3) & ~3));
  o.writeUInt16LE(code, 0);
  o.writeUInt16LE(value.length, 2);
  value.copy(o, 4);
  return o;
}
