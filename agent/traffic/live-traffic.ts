// Continuous capture for the agent: the native engine on the capture
// interface, every finished slot into the ring, capture metrics updated, and
// listeners told (auto-defense evaluates on each slot).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Capture } from '../../native/lib/capture.js';
import type { NativeBinding } from '../../native/lib/binding.js';
import type { CaptureStats, LiveCaptureOptions, Slot } from '../../native/lib/types.js';
import type { SlotRing } from './slot-ring.js';

interface StatsMark {
  at: number;
  dropped: number;
  ifDropped: number;
  slotsDropped: number;
}

export interface LiveTrafficOptions {
  capture: LiveCaptureOptions;
  ring: SlotRing;
  logger: Logger;
  registry: Registry;
  binding?: NativeBinding;
}

export class LiveTraffic extends EventEmitter<{ slot: [Slot]; error: [Error] }> {
  private capture?: Capture;
  private loop?: Promise<void>;
  private marks: StatsMark[] = [];
  private waiters: { until: number; resolve: () => void }[] = [];
  private readonly packets: Counter;
  private readonly bytes: Counter;
  private readonly malformed: Counter;
  private readonly kernelDrops: Gauge;
  private readonly ifDrops: Gauge;
  private readonly slotsDropped: Gauge;
  private readonly distinct: Gauge;

  constructor(private readonly opts: LiveTrafficOptions) {
    super();
    const r = opts.registry;
    this.packets = new Counter({ name: 'floodgate_packets_total', help: 'Packets captured, by direction', labelNames: ['direction'], registers: [r] });
    this.bytes = new Counter({ name: 'floodgate_bytes_total', help: 'Bytes captured, by direction', labelNames: ['direction'], registers: [r] });
    this.malformed = new Counter({ name: 'floodgate_malformed_packets_total', help: 'Truncated or malformed packets', registers: [r] });
    this.kernelDrops = new Gauge({ name: 'floodgate_capture_dropped_packets', help: 'Packets dropped by the kernel capture buffer (pcap_stats ps_drop)', registers: [r] });
    this.ifDrops = new Gauge({ name: 'floodgate_capture_interface_dropped_packets', help: 'Packets dropped by the interface (pcap_stats ps_ifdrop)', registers: [r] });
    this.slotsDropped = new Gauge({ name: 'floodgate_capture_slots_dropped', help: 'Finished slots discarded because the agent fell behind', registers: [r] });
    this.distinct = new Gauge({ name: 'floodgate_distinct_sources', help: 'Estimated distinct inbound sources in the latest slot', registers: [r] });
  }

  /** Open the interface (throws CaptureError on failure) and start consuming slots. */
  start(): void {
    const cap = Capture.openLive(this.opts.capture, this.opts.binding);
    for (const w of cap.info.warnings) this.opts.logger.warn({ warning: w }, 'capture warning');
    this.capture = cap;
    this.loop = this.consume(cap);
  }

  private async consume(cap: Capture): Promise<void> {
    try {
      for await (const slot of cap.slots()) this.accept(slot);
    } catch (err) {
      this.opts.logger.error({ err }, 'capture stopped with an error');
      this.emit('error', err as Error);
    }
  }

  private accept(slot: Slot): void {
    const t = slot.totals;
    this.packets.inc({ direction: 'inbound' }, t.inboundPackets);
    this.packets.inc({ direction: 'other' }, t.packets - t.inboundPackets);
    this.bytes.inc({ direction: 'inbound' }, t.inboundBytes);
    this.bytes.inc({ direction: 'other' }, t.bytes - t.inboundBytes);
    this.malformed.inc(t.malformed);
    this.distinct.set(slot.distinctSources);
    const st = this.stats();
    this.kernelDrops.set(st.dropped);
    this.ifDrops.set(st.ifDropped);
    this.slotsDropped.set(st.slotsDropped);
    this.marks.push({ at: slot.end, dropped: st.dropped, ifDropped: st.ifDropped, slotsDropped: st.slotsDropped });
    while (this.marks.length > 0 && this.marks[0]!.at < slot.end - 11 * 60_000) this.marks.shift();
    this.opts.ring.push(slot);
    this.emit('slot', slot);
    this.waiters = this.waiters.filter((w) => {
      if (slot.end < w.until) return true;
      w.resolve();
      return false;
    });
  }

  stats(): CaptureStats {
    return this.capture?.stats() ?? { received: 0, dropped: 0, ifDropped: 0, processed: 0, malformed: 0, slotsDropped: 0 };
  }

  /** Capture loss between two instants, from the stats recorded at each slot. */
  dropsBetween(fromMs: number, untilMs: number): { dropped: number; ifDropped: number; slotsDropped: number } {
    const before = [...this.marks].reverse().find((m) => m.at <= fromMs) ?? { dropped: 0, ifDropped: 0, slotsDropped: 0 };
    const after = [...this.marks].reverse().find((m) => m.at <= untilMs) ?? before;
    return {
      dropped: Math.max(0, after.dropped - before.dropped),
      ifDropped: Math.max(0, after.ifDropped - before.ifDropped),
      slotsDropped: Math.max(0, after.slotsDropped - before.slotsDropped),
    };
  }

  /** Resolves when a slot ending at or after `ms` has arrived (or the capture stops). */
  waitForSlotEnd(ms: number): Promise<void> {
    if (this.opts.ring.latestEnd() >= ms) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ until: ms, resolve }));
  }

  async stop(): Promise<void> {
    this.capture?.stop();
    await this.loop;
    this.capture?.close();
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }
}
