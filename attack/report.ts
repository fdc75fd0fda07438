// What `floodgate attack` prints: one progress line a second and a summary.
import type { HttpFloodSummary, HttpProgress } from './http-flood.js';
import type { PacketFloodSummary, PacketProgress } from './packet-flood.js';

export function httpProgressLine(p: HttpProgress): string {
  return `[${p.elapsedSeconds}s] ${p.responses} req/s, ${p.errors} errors/s (total ${p.totalResponses} responses, ${p.totalErrors} errors)`;
}

export function packetProgressLine(p: PacketProgress): string {
  return `[${p.elapsedSeconds}s] ${p.txPackets} pkt/s sent on ${p.dev ?? '?'}`;
}

const table = (rows: [string, string][]) => {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`).join('\n');
};

export function renderHttpSummary(s: HttpFloodSummary): string {
  const codes = Object.entries(s.statusCodes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([c, n]) => `${c}: ${n}`)
    .join(', ');
  return [
    `http flood of ${s.url} (${s.address}) done: ${s.durationSeconds} s, ${s.connections} connections${s.rateCap ? `, capped at ${s.rateCap} req/s` : ''}`,
    table([
      ['requests', `${s.requests.completed} answered of ${s.requests.sent} sent`],
      ['req/s', String(s.requests.perSecond)],
      ['latency', `p50 ${s.latencyMs.p50} ms, p90 ${s.latencyMs.p90} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`],
      ['errors', `${s.errors} (${s.timeouts} timeouts)`],
      ['non-2xx', String(s.non2xx)],
      ['status codes', codes || 'none'],
    ]),
  ].join('\n');
}

export function renderPacketSummary(s: PacketFloodSummary): string {
  const target = s.target === s.address ? s.address : `${s.target} (${s.address})`;
  return [
    `${s.kind} flood of ${target}${s.port ? ` port ${s.port}` : ''} done: ${s.durationSeconds} s, ${s.mode}${s.randSource ? ', random sources' : ''}`,
    table([
      ['sent', `${s.transmitted} packets (hping3)`],
      ['pkt/s', String(s.packetsPerSecond)],
      ['replies', String(s.received)],
      ['interface', s.dev ? `${s.dev}: ${s.interfaceTxPackets ?? '?'} packets transmitted` : 'unknown'],
      ['command', s.command.join(' ')],
    ]),
    ...(s.requestedPps && s.packetsPerSecond < s.requestedPps * 0.8
      ? [`  note: hping3 reached ${s.packetsPerSecond} of the ${s.requestedPps} pps asked for (its interval timer is coarse); --flood sends as fast as it can`]
      : []),
  ].join('\n');
}
