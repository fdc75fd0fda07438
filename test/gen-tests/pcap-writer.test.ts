// The writers checked byte-for-byte against the file formats and against
// tcpdump as an independent reader.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LINKTYPE, ethernetFrame, tcpPacket, udpPacket } from '../gen/packet-builder.js';
import { readCaptureFile } from '../gen/pcap-reader.js';
import { openCaptureWriter, writeCaptureFile, type CaptureWriterOptions } from '../gen/pcap-writer.js';
import { skipWithoutTcpdump, tcpdump, tempDir } from './helpers.js';

const T0 = 1_700_000_000_123_456;
const { dir, cleanup } = tempDir('writer');
after(cleanup);

function synFrame(i: number): Buffer {
  return ethernetFrame({ payload: tcpPacket({ src: '192.0.2.1', dst: '10.10.10.10', srcPort: 1024 + i, dstPort: 80, flags: { syn: true } }) });
}

function writeSyns(file: string, n: number, options: Partial<CaptureWriterOptions> = {}): string {
  const path = join(dir, file);
  writeCaptureFile(path, { linktype: LINKTYPE.ETHERNET, ...options }, Array.from({ length: n }, (_, i) => ({ frame: synFrame(i), timestampUs: T0 + i * 10 })));
  return path;
}

describe('classic pcap', () => {
  it('writes the global header and 16-byte record headers', () => {
    const path = writeSyns('layout.pcap', 2, { snaplen: 65535 });
    const b = readFileSync(path);
    assert.equal(b.readUInt32LE(0), 0xa1b2c3d4);
    assert.equal(b.readUInt16LE(4), 2);
    assert.equal(b.readUInt16LE(6), 4);
    assert.equal(b.readUInt32LE(16), 65535);
    assert.equal(b.readUInt32LE(20), LINKTYPE.ETHERNET);
    const frameLength = synFrame(0).length;
    assert.equal(b.readUInt32LE(24), 1_700_000_000);
    assert.equal(b.readUInt32LE(28), 123_456);
    assert.equal(b.readUInt32LE(32), frameLength);
    assert.equal(b.readUInt32LE(36), frameLength);
    assert.deepEqual(b.subarray(40, 40 + frameLength), synFrame(0));
    assert.equal(b.length, 24 + 2 * (16 + frameLength));
  });

  it('is read by tcpdump with the right count, link type and timestamps', { skip: skipWithoutTcpdump }, () => {
    const path = writeSyns('count.pcap', 5000);
    const out = tcpdump(path);
    assert.equal(out.packets.length, 5000);
    assert.match(out.stderr, /link-type EN10MB/);
    assert.match(out.packets[0]!, /^1700000000\.123456 IP 192\.0\.2\.1\.1024 > 10\.10\.10\.10\.80: Flags \[S\]/);
    assert.match(out.packets[4999]!, /^1700000000\.173446 /);
  });

  it('writes the nanosecond magic and scales timestamps', { skip: skipWithoutTcpdump }, () => {
    const path = writeSyns('nanos.pcap', 1, { resolution: 'ns' });
    assert.equal(readFileSync(path).readUInt32LE(0), 0xa1b23c4d);
    assert.match(tcpdump(path, ['--nano']).packets[0]!, /^1700000000\.123456000 /);
  });

  it('cuts frames at the snaplen but keeps the wire length', { skip: skipWithoutTcpdump }, () => {
    const path = join(dir, 'snap.pcap');
    const big = ethernetFrame({ payload: udpPacket({ src: '192.0.2.9', dst: '10.10.10.10', srcPort: 161, dstPort: 40000, payload: Buffer.alloc(1200) }) });
    writeCaptureFile(path, { linktype: LINKTYPE.ETHERNET, snaplen: 40 }, [{ frame: big, timestampUs: T0 }]);
    const rec = readCaptureFile(path).records[0]!;
    assert.equal(rec.caplen, 40);
    assert.equal(rec.len, 14 + 20 + 8 + 1200);
    const out = tcpdump(path, ['-e']);
    assert.match(out.packets[0]!, /length 1242/);
    assert.match(out.packets[0]!, /\[\|udp\]/);
  });

  it('accepts a longer original length than the bytes given, and zero-length records', { skip: skipWithoutTcpdump }, () => {
    const path = join(dir, 'zero.pcap');
    writeCaptureFile(path, { linktype: LINKTYPE.ETHERNET }, [
      { frame: synFrame(0).subarray(0, 20), timestampUs: T0, originalLength: 54 },
      { frame: new Uint8Array(0), timestampUs: T0 + 1 },
      { frame: new Uint8Array(0), timestampUs: T0 + 2, originalLength: 60 },
    ]);
    const recs = readCaptureFile(path).records;
    assert.deepEqual(recs.map((r) => [r.caplen, r.len]), [[20, 54], [0, 0], [0, 60]]);
    const out = tcpdump(path);
    assert.equal(out.packets.length, 3);
    assert.match(out.packets[1]!, /Invalid header: caplen==0/);
  });

  it('rejects inconsistent input', () => {
    const w = openCaptureWriter(join(dir, 'bad.pcap'), { linktype: LINKTYPE.ETHERNET });
    assert.throws(() => w.writePacket(synFrame(0), T0, 10), /original length/);
    assert.throws(() => w.writePacket(synFrame(0), 1.5), /bad timestamp/);
    w.close();
    assert.throws(() => w.writePacket(synFrame(0), T0), /closed/);
  });
});

describe('pcapng', () => {
  it('writes SHB, IDB and one EPB per packet', () => {
    const path = writeSyns('layout.pcapng', 3, { format: 'pcapng', snaplen: 1000 });
    const b = readFileSync(path);
    assert.equal(b.readUInt32LE(0), 0x0a0d0d0a);
    assert.equal(b.readUInt32LE(8), 0x1a2b3c4d);
    const shbLength = b.readUInt32LE(4);
    assert.equal(b.readUInt32LE(shbLength - 4), shbLength);
    assert.equal(b.readUInt32LE(shbLength), 1); // IDB
    assert.equal(b.readUInt16LE(shbLength + 8), LINKTYPE.ETHERNET);
    assert.equal(b.readUInt32LE(shbLength + 12), 1000);
    const epb = shbLength + b.readUInt32LE(shbLength + 4);
    assert.equal(b.readUInt32LE(epb), 6);
    const ts = (BigInt(b.readUInt32LE(epb + 12)) << 32n) | BigInt(b.readUInt32LE(epb + 16));
    assert.equal(ts, BigInt(T0)); // microseconds: the if_tsresol default
    const cap = readCaptureFile(path);
    assert.equal(cap.records.length, 3);
    assert.deepEqual(cap.records[2]!.data, synFrame(2));
  });

  it('is read by tcpdump, with nanosecond if_tsresol and odd lengths padded', { skip: skipWithoutTcpdump }, () => {
    const path = join(dir, 'odd.pcapng');
    const frames = [synFrame(0), synFrame(1).subarray(0, 51), new Uint8Array(0)];
    writeCaptureFile(path, { linktype: LINKTYPE.ETHERNET, format: 'pcapng', resolution: 'ns', interfaceName: 'eth0' }, frames.map((frame, i) => ({ frame, timestampUs: T0 + i, originalLength: i === 1 ? 54 : undefined })));
    const out = tcpdump(path, ['--nano']);
    assert.equal(out.packets.length, 3);
    assert.match(out.packets[0]!, /^1700000000\.123456000 IP /);
    assert.match(out.packets[1]!, /^1700000000\.123457000 /);
    assert.deepEqual(readCaptureFile(path).records.map((r) => r.caplen), [54, 51, 0]);
  });

  it('streams many packets through small chunks without losing any', { skip: skipWithoutTcpdump }, () => {
    const path = writeSyns('chunks.pcapng', 20000, { format: 'pcapng', chunkBytes: 4096 });
    assert.equal(tcpdump(path).packets.length, 20000);
    assert.equal(readCaptureFile(path).records.length, 20000);
  });
});
