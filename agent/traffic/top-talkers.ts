// The heaviest inbound sources of a window with their evidence, for
// GET /v1/talkers (the dashboard's top talkers). Plain aggregation: unlike an
// analysis it judges nothing, so it never counts as an attack in the metrics.
import type { Slot } from '../../native/lib/types.js';
import { mergeSlots } from '../../detection/window-merge.js';
import type { TopTalkers } from '../../api/agent/v1/types.js';

export function topTalkers(slots: readonly Slot[], isBlocked: (ip: string) => boolean, limit: number): TopTalkers {
  const w = mergeSlots(slots);
  const inbound = w.totals.inboundPackets;
  const seconds = w.seconds;
  const rate = (n: number) => (seconds > 0 ? n / seconds : 0);
  return {
    window: slots.length ? { start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString(), seconds } : null,
    inboundPackets: inbound,
    talkers: [...w.sources]
      .sort((a, b) => b.packets - a.packets)
      .slice(0, limit)
      .map((s) => ({
        ip: s.addr,
        packets: s.packets,
        bytes: s.bytes,
        share: inbound > 0 ? s.packets / inbound : 0,
        pps: rate(s.packets),
        bps: rate(s.bytes * 8),
        protocols: { tcp: s.tcp, udp: s.udp, icmp: s.icmp, other: s.other },
        blocked: isBlocked(s.addr),
      })),
  };
}
