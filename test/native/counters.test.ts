// The engine's counters for issue 10, through the real engine over a capture
// with known packets: completed handshakes (and a blind ACK that must not
// complete one), FIN, PSH, ECN SYNs, invalid flag mixes, outbound answers, the
// victim's own queries, a source's UDP port, SYN and SYN-ACK port lists, and
// the span a file's slot really covers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Capture } from '../../native/lib/capture.js';
import { mergeSlots } from '../../detection/window-merge.js';
import { LINKTYPE, tcpPacket, udpPacket, type TcpFlags } from '../gen/packet-builder.js';
import { fromServer, toServer } from '../gen/lan.js';
import { writeCaptureFile, type TimedFrame } from '../gen/pcap-writer.js';

const VICTIM = '10.10.10.10';
const CLIENT = '192.0.2.10';
const SPOOF = '198.51.100.99';
const REFLECTOR = '203.0.113.5';
const RESOLVER = '198.18.0.53';
const T0 = 1_700_000_000_000_000 + 250_000; // 250 ms into a second

test('handshakes, flags, outbound answers, ports and the covered span', async () => {
  const frames: TimedFrame[] = [];
  let t = T0;
  const tin = (src: string, sport: number, dport: number, flags: TcpFlags, seq = 0, ack = 0) => frames.push({ frame: toServer(tcpPacket({ src, dst: VICTIM, srcPort: sport, dstPort: dport, flags, seq, ack })), timestampUs: (t += 1000) });
  const tout = (dst: string, sport: number, dport: number, flags: TcpFlags, seq = 0, ack = 0) => frames.push({ frame: fromServer(tcpPacket({ src: VICTIM, dst, srcPort: sport, dstPort: dport, flags, seq, ack })), timestampUs: (t += 1000) });

  // A complete handshake: SYN, the victim's SYN-ACK, the client's ACK of both.
  tin(CLIENT, 40000, 443, { syn: true }, 1000);
  tout(CLIENT, 443, 40000, { syn: true, ack: true }, 5000, 1001);
  tin(CLIENT, 40000, 443, { ack: true }, 1001, 5001);
  tin(CLIENT, 40000, 443, { psh: true, ack: true }, 1001, 5001);
  tin(CLIENT, 40000, 443, { fin: true, ack: true }, 1100, 5001);
  // A spoofed SYN whose "third packet" does not acknowledge the victim's ISN: no handshake.
  tin(SPOOF, 41000, 80, { syn: true }, 7000);
  tout(SPOOF, 80, 41000, { syn: true, ack: true }, 9000, 7001);
  tin(SPOOF, 41000, 80, { ack: true }, 7001, 1234);
  // ECN SYN, NULL, SYN+FIN, XMAS.
  tin(SPOOF, 41001, 80, { syn: true, ece: true, cwr: true }, 1);
  tin(SPOOF, 41002, 80, {});
  tin(SPOOF, 41003, 80, { syn: true, fin: true });
  tin(SPOOF, 41004, 80, { fin: true, psh: true, urg: true });
  // An unsolicited SYN-ACK from port 443.
  tin(REFLECTOR, 443, 50000, { syn: true, ack: true }, 1, 2);
  // BACnet responses from one reflector, and the victim's own DNS query answered.
  for (let i = 0; i < 3; i++) frames.push({ frame: toServer(udpPacket({ src: REFLECTOR, dst: VICTIM, srcPort: 47808, dstPort: 30000 + i, payload: Buffer.alloc(100) })), timestampUs: (t += 1000) });
  frames.push({ frame: fromServer(udpPacket({ src: VICTIM, dst: RESOLVER, srcPort: 33333, dstPort: 53, payload: Buffer.alloc(40) })), timestampUs: (t += 1000) });
  frames.push({ frame: toServer(udpPacket({ src: RESOLVER, dst: VICTIM, srcPort: 53, dstPort: 33333, payload: Buffer.alloc(200) })), timestampUs: (t += 1000) });
  // A second query: the resolver has an entry by now (outbound packets never claim one).
  frames.push({ frame: fromServer(udpPacket({ src: VICTIM, dst: RESOLVER, srcPort: 33334, dstPort: 53, payload: Buffer.alloc(40) })), timestampUs: (t += 1000) });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-counters-'));
  try {
    const file = path.join(dir, 'counters.pcap');
    writeCaptureFile(file, { linktype: LINKTYPE.ETHERNET }, frames);
    const cap = Capture.openFile(file, { protect: [VICTIM] });
    const slots = [];
    try {
      for await (const s of cap.slots()) slots.push(s);
    } finally {
      cap.close();
    }
    assert.equal(slots.length, 1);
    const slot = slots[0]!;
    // The slot is the second [T0 - 250 ms, +1 s); its data covers first packet to last packet.
    assert.equal(slot.coverStart, (T0 + 1000) / 1000);
    assert.equal(slot.coverEnd, t / 1000);
    assert.equal(slot.firstPacket, (T0 + 1000) / 1000);
    assert.equal(slot.lastPacket, t / 1000);
    const w = mergeSlots(slots);
    assert.ok(Math.abs(w.seconds - (t - T0 - 1000) / 1e6) < 1e-9, `span ${w.seconds}`);

    const tt = slot.totals;
    assert.equal(tt.handshakes, 1, 'one complete handshake; the blind ACK completes none');
    assert.equal(tt.syn, 4, 'SYN, spoofed SYN, ECN SYN, SYN+FIN');
    assert.equal(tt.synEcn, 1);
    assert.equal(tt.badFlags, 3);
    assert.equal(tt.tcpNull, 1);
    assert.equal(tt.synFin, 1);
    assert.equal(tt.fin, 2, 'FIN+ACK and XMAS');
    assert.equal(tt.psh, 2, 'PSH+ACK and XMAS');
    assert.equal(tt.synAck, 1);
    assert.equal(tt.outPackets, 4);
    assert.equal(tt.outSynAck, 2);

    const src = new Map(slot.sources.map((s) => [s.addr, s]));
    assert.equal(src.get(CLIENT)?.handshakes, 1);
    assert.equal(src.get(CLIENT)?.outSynAck, 1);
    assert.equal(src.get(SPOOF)?.handshakes, 0);
    assert.equal(src.get(REFLECTOR)?.udpSrcPort, 47808);
    assert.equal(src.get(REFLECTOR)?.udpSrcPortPackets, 3);
    assert.equal(src.get(RESOLVER)?.outPackets, 1, 'the query after its first answer counts; the one before it had no entry to count in');

    const d = slot.destinations.find((x) => x.addr === VICTIM)!;
    assert.equal(d.handshakes, 1);
    assert.deepEqual(d.outUdpDstPorts, [{ port: 53, packets: 2 }], 'the victim\'s own queries, both');
    assert.deepEqual(d.synAckSrcPorts, [{ port: 443, packets: 1 }]);
    assert.deepEqual(d.synDstPorts.map((p) => [p.port, p.packets]).sort(), [[443, 1], [80, 3]].sort());
    assert.equal(d.udpSrcPorts.find((p) => p.port === 47808)?.packets, 3);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
