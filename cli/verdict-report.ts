// Human-readable rendering of verdicts for the terminal.
import type { AttackerEvidence, Verdict, VictimReport } from '../detection/types.js';

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export function formatRate(bps: number): string {
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${(bps / 1e3).toFixed(1)} kbit/s`;
  return `${int.format(bps)} bit/s`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

function protocolMix(a: AttackerEvidence): string {
  const total = a.protocols.tcp + a.protocols.udp + a.protocols.icmp + a.protocols.other;
  const parts = (['tcp', 'udp', 'icmp', 'other'] as const)
    .filter((p) => a.protocols[p] > 0)
    .map((p) => `${p} ${Math.round((100 * a.protocols[p]) / Math.max(1, total))}%`);
  return parts.join(' ') || '-';
}

function victimLines(v: VictimReport): string[] {
  const lines = [
    `  victim ${v.ip}: ${int.format(v.pps)} pps, ${formatRate(v.bps)}, ~${int.format(v.distinctSources)} sources`,
    `    vector: ${v.vector} (${v.vectorDetail})`,
    `    mitigation: ${v.signature.text}${v.signatureRuleNeeded ? '  [signature rule needed]' : ''}`,
  ];
  if (v.heavyHitters.length > 0) lines.push(`    heavy hitters: ${v.heavyHitters.slice(0, 10).join(', ')}${v.heavyHitters.length > 10 ? ', …' : ''}`);
  if (v.note) lines.push(`    ${v.note}`);
  return lines;
}

export function renderVerdict(v: Verdict): string {
  const out: string[] = [];
  out.push(`window ${v.window.start} → ${v.window.end} (${v.window.seconds.toFixed(1)} s): ${v.underAttack ? 'UNDER ATTACK' : 'no attack detected'}`);
  const secs = v.window.seconds || 1;
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
    const rows = [['ip', 'packets', 'share', 'pps', 'rate', 'protocols', 'rules']];
    for (const a of v.attackers.slice(0, 25)) {
      rows.push([a.ip, int.format(a.packets), pct(a.share), int.format(a.pps), formatRate(a.bps), protocolMix(a), a.rules.join(',')]);
    }
    out.push(...table(rows).map((l) => `    ${l}`));
    if (v.attackers.length > 25) out.push(`    … and ${v.attackers.length - 25} more (use --json)`);
  }
  const d = v.drops;
  if (d.dropped || d.ifDropped || d.slotsDropped) {
    out.push(`  capture loss: ${d.dropped} dropped, ${d.ifDropped} dropped by interface, ${d.slotsDropped} slots discarded`);
  }
  return out.join('\n');
}
