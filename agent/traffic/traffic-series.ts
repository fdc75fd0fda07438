// Per-second traffic points for GET /v1/traffic and the dashboard chart.
import type { Slot } from '../../native/lib/types.js';
import type { TrafficPoint } from '../../api/agent/v1/types.js';

const TOP = 10;

function topOf(entries: Map<string, { packets: number; bytes: number }>): TrafficPoint['topSources'] {
  return [...entries.entries()]
    .sort((a, b) => b[1].packets - a[1].packets)
    .slice(0, TOP)
    .map(([ip, v]) => ({ ip, packets: v.packets, bytes: v.bytes }));
}

/** Group slots by whole second, oldest first. */
export function trafficSeries(slots: readonly Slot[]): TrafficPoint[] {
  const bySecond = new Map<number, Slot[]>();
  for (const s of slots) {
    const sec = Math.floor(s.start / 1000) * 1000;
    const list = bySecond.get(sec);
    if (list) list.push(s);
    else bySecond.set(sec, [s]);
  }
  const points: TrafficPoint[] = [];
  for (const [sec, group] of [...bySecond.entries()].sort((a, b) => a[0] - b[0])) {
    const src = new Map<string, { packets: number; bytes: number }>();
    const dst = new Map<string, { packets: number; bytes: number }>();
    let packets = 0, bytes = 0, inboundPackets = 0, inboundBytes = 0;
    for (const s of group) {
      packets += s.totals.packets;
      bytes += s.totals.bytes;
      inboundPackets += s.totals.inboundPackets;
      inboundBytes += s.totals.inboundBytes;
      for (const x of s.sources.slice(0, 50)) {
        const v = src.get(x.addr) ?? { packets: 0, bytes: 0 };
        v.packets += x.packets;
        v.bytes += x.bytes;
        src.set(x.addr, v);
      }
      for (const x of s.destinations.slice(0, 50)) {
        const v = dst.get(x.addr) ?? { packets: 0, bytes: 0 };
        v.packets += x.packets;
        v.bytes += x.bytes;
        dst.set(x.addr, v);
      }
    }
    points.push({
      t: new Date(sec).toISOString(),
      packets,
      bytes,
      inboundPackets,
      inboundBytes,
      topSources: topOf(src),
      topDestinations: topOf(dst),
    });
  }
  return points;
}
