// Detected attacks, one record per episode: consecutive under-attack verdicts
// merge into one record until the traffic has been quiet for `quietMs`.
import type { Verdict } from '../../detection/types.js';
import type { AttackRecord, AttackVectorRecord } from '../../api/agent/v1/types.js';

export type { AttackRecord, AttackVectorRecord };

export class AttackHistory {
  private records: AttackRecord[] = [];
  private nextId = 1;

  constructor(
    private readonly max = 100,
    private readonly quietMs = 5000,
  ) {}

  /** Fold one verdict in; returns the open record when the verdict is an attack. */
  observe(v: Verdict, at: number, banned: string[] = []): AttackRecord | undefined {
    const open = this.records.at(-1);
    const openNow = open && !open.endedAt ? open : undefined;
    if (!v.underAttack) {
      if (openNow && at - Date.parse(openNow.lastSeenAt) > this.quietMs) openNow.endedAt = openNow.lastSeenAt;
      return undefined;
    }
    const pps = v.window.seconds > 0 ? v.totals.inboundPackets / v.window.seconds : 0;
    const rec = openNow ?? this.open(at);
    rec.lastSeenAt = new Date(at).toISOString();
    merge(rec.victims, v.victims.map((x) => x.ip));
    merge(rec.vectors, v.vectors);
    for (const victim of v.victims) {
      rec.multiVector ||= victim.multiVector;
      for (const x of victim.vectors) addVector(rec.vectorDetails, { vector: x.vector, label: x.label, peakShare: x.share, signature: x.signature });
    }
    for (const a of v.attackers) if (a.vector && a.vectorLabel) addVector(rec.vectorDetails, { vector: a.vector, label: a.vectorLabel, peakShare: 0 });
    merge(rec.signatures, v.victims.flatMap((x) => x.vectors.map((y) => y.signature.text)));
    rec.signatureRuleNeeded ||= v.victims.some((x) => x.signatureRuleNeeded);
    rec.peakInboundPps = Math.max(rec.peakInboundPps, pps);
    merge(rec.attackers, v.attackers.map((a) => a.ip).slice(0, 100));
    merge(rec.banned, banned);
    return rec;
  }

  private open(at: number): AttackRecord {
    const rec: AttackRecord = {
      id: this.nextId++,
      startedAt: new Date(at).toISOString(),
      lastSeenAt: new Date(at).toISOString(),
      victims: [],
      vectors: [],
      vectorDetails: [],
      multiVector: false,
      signatures: [],
      signatureRuleNeeded: false,
      peakInboundPps: 0,
      attackers: [],
      banned: [],
    };
    this.records.push(rec);
    if (this.records.length > this.max) this.records.shift();
    return rec;
  }

  list(): AttackRecord[] {
    return [...this.records].reverse();
  }
}

function addVector(into: AttackVectorRecord[], x: AttackVectorRecord, cap = 32): void {
  const known = into.find((y) => y.label === x.label && y.signature?.destination === x.signature?.destination);
  if (known) known.peakShare = Math.max(known.peakShare, x.peakShare);
  else if (into.length < cap) into.push(x);
}

function merge<T>(into: T[], items: readonly T[], cap = 100): void {
  for (const x of items) if (into.length < cap && !into.includes(x)) into.push(x);
}
