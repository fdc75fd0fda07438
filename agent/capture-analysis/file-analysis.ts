// Offline analysis of a capture file: the seed's "capture N seconds, then
// judge" applied to every N-second window of a pcap/pcapng file.
import { Capture } from '../../native/lib/capture.js';
import { estimateSketch, mergeSketch } from '../../native/lib/hll.js';
import type { NativeBinding } from '../../native/lib/binding.js';
import type { CaptureStats, Slot } from '../../native/lib/types.js';
import { analyzeWindow } from '../../detection/analyze.js';
import { Baselines } from '../../detection/baseline.js';
import { resolveThresholds } from '../../detection/defaults.js';
import type { DetectionThresholds, Verdict } from '../../detection/types.js';

export interface FileAnalysisOptions {
  windowSeconds: number;
  thresholds?: Partial<DetectionThresholds>;
  /** Protected addresses/CIDRs; when absent they are inferred from the capture (see inferProtected). */
  protect?: string[];
  slotMs?: number;
  /** Sources decoded per slot into JS (heaviest first). Detection only needs the heavy end. */
  keepSources?: number;
  binding?: NativeBinding;
  /** Learn baselines per protected address as the file goes (default true); false: floors and ceilings only. */
  baselines?: boolean;
  /** Called with each finished window, for progress output. */
  onWindow?: (summary: WindowSummary) => void;
}

export interface WindowSummary {
  start: string;
  end: string;
  /** Seconds of the window the capture really covers (the rates' divisor). */
  seconds: number;
  windowSeconds: number;
  underAttack: boolean;
  inboundPackets: number;
  inboundPps: number;
  victims: string[];
  vectors: string[];
  /** Each victim's vectors with service, ports and share, e.g. "BACnet amplification (udp sport 47808) 70%". */
  vectorLabels: string[];
  attackers: string[];
  /** The baseline of the busiest victim (or destination) when the window was judged. */
  baseline: 'cold' | 'warming' | 'warm' | 'off';
}

export interface FileAnalysis {
  file: string;
  linktype: string;
  protect: string[];
  protectSource: 'given' | 'inferred';
  windows: WindowSummary[];
  /** The verdict of the worst window: under attack first, then the highest inbound rate. */
  peak: Verdict | null;
  /** Seconds of traffic the baselines learned by the end of the file (0 with baselines off). */
  baselineSeconds: number;
  stats: CaptureStats;
}

/** At most this many inferred victims, so a scan of a whole /16 doesn't become a protected set. */
const MAX_INFERRED = 16;
/** A destination taking at least this share of all IP packets is treated as protected too. */
const INFERRED_SHARE = 0.1;

/**
 * Which addresses does this capture protect? A file carries no interface
 * addresses, so take the destination that hears from the most distinct
 * sources (a server, or a flood's victim: its own replies give each client a
 * single source, the server itself), plus any other destination that
 * receives at least 10% of the IP packets and at least twice what it sends.
 * The second condition keeps an attacker that merely gets the victim's
 * replies (SYN-ACKs, RSTs) out of the protected set. Replies from the victim
 * then count as outbound, as they would on the victim's own interface.
 */
export async function inferProtected(file: string, binding?: NativeBinding): Promise<string[]> {
  const cap = Capture.openFile(file, { maxSources: 4096, keepSources: 4096 }, binding);
  const received = new Map<string, number>();
  const sent = new Map<string, number>();
  const sources = new Map<string, Uint8Array>();
  let ipPackets = 0;
  try {
    for await (const slot of cap.slots()) {
      ipPackets += slot.totals.ipv4 + slot.totals.ipv6;
      for (const d of slot.destinations) {
        received.set(d.addr, (received.get(d.addr) ?? 0) + d.packets);
        const sk = sources.get(d.addr);
        if (!sk) sources.set(d.addr, new Uint8Array(d.sourceSketch));
        else mergeSketch(sk, d.sourceSketch);
      }
      for (const s of slot.sources) sent.set(s.addr, (sent.get(s.addr) ?? 0) + s.packets);
    }
  } finally {
    cap.close();
  }
  const distinct = new Map([...sources].map(([addr, sk]) => [addr, estimateSketch(sk)]));
  const ranked = [...received.entries()].sort((a, b) => (distinct.get(b[0]) ?? 0) - (distinct.get(a[0]) ?? 0) || b[1] - a[1]);
  const chosen = ranked.filter(
    ([addr, n], i) => i === 0 || (n >= INFERRED_SHARE * ipPackets && n >= 2 * (sent.get(addr) ?? 0)),
  );
  return chosen.slice(0, MAX_INFERRED).map(([addr]) => addr);
}

function summarize(v: Verdict, baseline: WindowSummary['baseline']): WindowSummary {
  return {
    start: v.window.start,
    end: v.window.end,
    seconds: v.window.seconds,
    windowSeconds: v.window.windowSeconds,
    underAttack: v.underAttack,
    inboundPackets: v.totals.inboundPackets,
    inboundPps: v.window.seconds > 0 ? v.totals.inboundPackets / v.window.seconds : 0,
    victims: v.victims.map((x) => x.ip),
    vectors: v.vectors,
    vectorLabels: v.victims.flatMap((x) => x.vectors.map((y) => `${y.label} ${Math.round(y.share * 100)}%`)),
    attackers: v.attackers.map((a) => a.ip),
    baseline,
  };
}

function worse(a: Verdict | null, b: Verdict): boolean {
  if (!a) return true;
  if (a.underAttack !== b.underAttack) return b.underAttack;
  return b.totals.inboundPackets / (b.window.seconds || 1) > a.totals.inboundPackets / (a.window.seconds || 1);
}

export async function analyzeFile(file: string, opts: FileAnalysisOptions): Promise<FileAnalysis> {
  const given = opts.protect && opts.protect.length > 0;
  const protect = given ? opts.protect! : await inferProtected(file, opts.binding);
  const cap = Capture.openFile(
    file,
    { slotMs: opts.slotMs, protect, keepSources: opts.keepSources ?? 20000 },
    opts.binding,
  );
  const windowMs = opts.windowSeconds * 1000;
  const windows: WindowSummary[] = [];
  let peak: Verdict | null = null;
  let pending: Slot[] = [];
  let windowStart = -1;
  const t = resolveThresholds(opts.thresholds ?? {});
  const baselines = opts.baselines === false ? undefined : new Baselines();
  let learned = 0;

  const flush = () => {
    if (pending.length === 0) return;
    // Judged against what was learned before this window, then learned (victims under attack excluded).
    const verdict = analyzeWindow(pending, t, { baselines });
    const busiest = verdict.victims[0]?.ip ?? [...pending.flatMap((s) => s.destinations)].sort((a, b) => b.packets - a.packets)[0]?.addr;
    const view = busiest !== undefined ? baselines?.view(busiest) : undefined;
    const status = !baselines ? 'off' : !view ? 'cold' : view.seconds >= t.warmupSeconds ? 'warm' : 'warming';
    if (baselines) {
      baselines.learnSlots(pending, t, new Set(verdict.victims.map((x) => x.ip)));
      learned += verdict.window.seconds;
    }
    const summary = summarize(verdict, status);
    windows.push(summary);
    opts.onWindow?.(summary);
    if (worse(peak, verdict)) peak = verdict;
    pending = [];
  };

  try {
    for await (const slot of cap.slots()) {
      if (windowStart < 0) windowStart = slot.start;
      // Windows are consecutive and aligned to the first slot; a gap just starts a later window.
      if (slot.start >= windowStart + windowMs) {
        flush();
        windowStart += Math.floor((slot.start - windowStart) / windowMs) * windowMs;
      }
      pending.push(slot);
    }
    flush();
    return {
      file,
      linktype: cap.info.linktypeName,
      protect,
      protectSource: given ? 'given' : 'inferred',
      windows,
      peak,
      baselineSeconds: baselines ? learned : 0,
      stats: cap.stats(),
    };
  } finally {
    cap.close();
  }
}
