// Human-readable rendering of verdicts for the terminal.
import type { AttackerEvidence, DetectionThresholds, Verdict, VictimReport } from '../detection/types.js';

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function formatRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kbit/s`;
  return `${int.format(bps)} bit/s`;
}

/** "7.0 s", "20 ms", "1.5 ms". */
export function formatSpan(seconds: number): string {
  if (seconds >= 1) return `${seconds.toFixed(1)} s`;
  const ms = seconds * 1000;
  return ms >= 10 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 || c === r.length - 1 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
}

function protocolMix(a: AttackerEvidence): string {
  const total = a.protocols.tcp + a.protocols.udp + a.protocols.icmp + a.protocols.other;
  const parts = (['tcp', 'udp', 'icmp', 'other'] as const)
    .filter((p) => a.protocols[p] > 0)
    .map((p) => `${p} ${Math.round((100 * a.protocols[p]) / Math.max(1, total))}%`);
  return parts.join(' ') || '-';
}

function victimLines(v: VictimReport): string[] {
  const hs = v.handshakeCompletion === null ? '' : `, ${pct(v.handshakeCompletion)} of handshakes completed`;
  const lines = [
    `  victim ${v.ip}: ${int.format(v.pps)} pps, ${formatRate(v.bps)}, ~${int.format(v.distinctSources)} sources (~${int.format(v.newSources)} new)${hs}; baseline ${v.baseline}`,
    `    ${v.multiVector ? `multi-vector attack, ${v.vectors.length} vectors` : 'vector'}:`,
  ];
  for (const x of v.vectors) {
    lines.push(`      ${x.evidence} — ${pct(x.share)} of packets [${x.trigger}]`);
    lines.push(`        signature: ${x.signature.text}`);
  }
  lines.push(`    mitigation: ${v.signatureRuleNeeded ? `signature rule${v.vectors.length > 1 ? 's' : ''} needed` : 'per-IP bans'} — ${v.note}`);
  if (v.heavyHitters.length > 0) lines.push(`    heavy hitters: ${v.heavyHitters.slice(0, 10).join(', ')}${v.heavyHitters.length > 10 ? ', …' : ''}`);
  return lines;
}

/** The knobs in effect, grouped, on two lines. */
export function renderThresholds(t: DetectionThresholds): string[] {
  return [
    `  thresholds: ceiling ${int.format(t.victimPpsThreshold)} pps or ${formatRate(t.victimBpsThreshold)} per victim; per source ${int.format(t.sourcePpsThreshold)} pps or ${formatRate(t.sourceBpsThreshold)}; share ${pct(t.attackerShareThreshold)} of ≥ ${int.format(t.minPackets)} packets`,
    `  floors: SYN ${int.format(t.synFloodPps)}, reflection ${int.format(t.reflectionPps)}, fragments ${int.format(t.fragmentPps)} pps at ${pct(t.fragmentShare)}, bad flags ${int.format(t.badFlagsPps)}, ICMP ${int.format(t.icmpFloodPps)}, RST ${int.format(t.rstFloodPps)} pps; ` +
      `baseline: mean + ${t.baselineSigmas} deviations, ≥ ${int.format(t.baselineMinPps)} pps and ${t.baselineMinRatio}x the mean, after ${t.warmupSeconds} s, half-life ${t.baselineHalfLifeSeconds} s`,
  ];
}

export function renderVerdict(v: Verdict): string {
  const out: string[] = [];
  const w = v.window;
  const covers = w.seconds < 0.99 * w.windowSeconds ? `, traffic covers ${formatSpan(w.seconds)}: rates over that` : '';
  out.push(`window ${w.start} → ${w.end} (${formatSpan(w.windowSeconds)}${covers}): ${v.underAttack ? 'UNDER ATTACK' : 'no attack detected'}${v.trigger ? ` (trigger: ${v.trigger})` : ''}`);
  const secs = w.seconds || 1;
  out.push(
    `  inbound: ${int.format(v.totals.inboundPackets)} packets, ${int.format(v.totals.inboundPackets / secs)} pps, ${formatRate((v.totals.inboundBytes * 8) / secs)}, ~${int.format(v.totals.distinctSources)} distinct sources` +
      ` (all traffic: ${int.format(v.totals.pps)} pps, ${formatRate(v.totals.bps)})` +
      (v.totals.malformed ? `, ${int.format(v.totals.malformed)} malformed` : ''),
  );
  if (v.topSource) {
    out.push(`  top source: ${v.topSource.ip} with ${pct(v.topSource.share)} of inbound packets (share threshold ${pct(v.thresholds.attackerShareThreshold)})`);
  }
  for (const victim of v.victims) out.push(...victimLines(victim));
  if (v.attackers.length > 0) {
    out.push(`  attackers (${v.attackers.length}):`);
    const rows = [['ip', 'packets', 'share', 'pps', 'rate', 'protocols', 'rules', 'vector']];
    for (const a of v.attackers.slice(0, 25)) {
      rows.push([a.ip, int.format(a.packets), pct(a.share), int.format(a.pps), formatRate(a.bps), protocolMix(a), a.rules.join(','), a.vectorLabel ?? '-']);
    }
    out.push(...table(rows).map((l) => `    ${l}`));
    if (v.attackers.length > 25) out.push(`    … and ${v.attackers.length - 25} more (use --json)`);
  }
  for (const e of v.exempt.slice(0, 5)) {
    out.push(`  not banned: ${e.ip} at ${int.format(e.pps)} pps, ${formatRate(e.bps)}: ${e.reason}`);
  }
  const d = v.drops;
  if (d.dropped || d.ifDropped || d.slotsDropped) {
    out.push(`  capture loss: ${d.dropped} dropped, ${d.ifDropped} dropped by interface, ${d.slotsDropped} slots discarded`);
  }
  return out.join('\n');
}
