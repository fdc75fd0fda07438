// The signature rule's one definition (api/signature-rule.ts) and the planner
// (mitigation/plan.ts): from detection's own verdicts of generated floods to
// the rule each vector gets, and what a rule may never do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeWindow } from '../../detection/analyze.js';
import { planRules } from '../../mitigation/plan.js';
import { matchOfSignature, normalizeMatch, signatureId, signatureMatchSchema, signatureProblems, type SignatureAction, type SignatureMatch } from '../../api/signature-rule.js';
import { buildSlots, fromSources, type Flow } from '../detection/slot-fixtures.js';

const VICTIM = '10.10.10.10';
const SECONDS = 3;

/** A few ordinary web clients completing their handshakes. */
function webClients(): Flow[] {
  return [...fromSources(40, { dst: VICTIM, kind: 'syn', packets: 2, dport: 443, handshakes: 2 }, { firstOctet: 172 })];
}

const plan = (flows: (i: number) => Flow[]) => planRules(analyzeWindow(buildSlots(SECONDS, flows)));

describe('the rule definition', () => {
  const syn: SignatureMatch = { protocol: 'tcp', destination: VICTIM, destinationPort: 443, tcpFlags: { mask: ['syn', 'ack', 'rst'], value: ['syn'] } };

  it('one id per match: order of flags, a one-port range and address spelling do not matter; the text is rendered', () => {
    const a = normalizeMatch({ protocol: 'tcp', destination: '2001:db8::0001', destinationPorts: { from: 443, to: 443 }, tcpFlags: { mask: ['rst', 'ack', 'syn'], value: ['syn'] } });
    const b = normalizeMatch({ protocol: 'tcp', destination: '2001:db8::1', destinationPort: 443, tcpFlags: { mask: ['syn', 'ack', 'rst'], value: ['syn'] } });
    assert.equal(signatureId(a), signatureId(b));
    assert.equal(a.text, 'tcp flags syn/syn,rst,ack to 2001:db8::1 dport 443');
    assert.notEqual(signatureId(syn), signatureId({ ...syn, destinationPort: 80 }));
    assert.match(signatureId(syn), /^[0-9a-f]{16}$/);
  });

  it('refuses what would hurt the service, one clear line each', () => {
    const cases: [SignatureMatch, SignatureAction, RegExp][] = [
      [syn, { type: 'drop' }, /never a blanket drop of SYNs to 10\.10\.10\.10: new clients could not connect; use synproxy or limit/],
      [{ protocol: 'udp', destination: VICTIM, destinationPorts: { from: 0, to: 65535 } }, { type: 'drop' }, /destinationPorts 0-65535 is every port/],
      [{ protocol: 'udp', destination: VICTIM }, { type: 'drop' }, /would drop every udp packet to 10\.10\.10\.10 \(every port\)/],
      [{ protocol: 'any', destination: VICTIM }, { type: 'drop' }, /would drop everything sent to 10\.10\.10\.10/],
      [{ protocol: 'icmp', destination: VICTIM, sourcePort: 7 }, { type: 'limit', ratePerSecond: 10 }, /ports need protocol tcp or udp/],
      [{ protocol: 'udp', destination: VICTIM, sourcePort: 53 }, { type: 'synproxy' }, /synproxy needs protocol tcp and one destinationPort/],
      [syn, { type: 'drop-invalid' }, /drop-invalid never applies to SYNs/],
      [{ protocol: 'udp', destination: VICTIM, sourcePort: 123 }, { type: 'limit' }, /limit needs ratePerSecond/],
      [{ protocol: 'udp', destination: '10.10.10.0/24', sourcePort: 123 }, { type: 'drop' }, /is not one IP address/],
      [{ protocol: 'udp', destination: VICTIM, sourcePorts: { from: 900, to: 100 } }, { type: 'drop' }, /from is above to/],
    ];
    for (const [m, a, re] of cases) {
      const problems = signatureProblems(m, a);
      assert.ok(problems.some((p) => re.test(p)), `${JSON.stringify(m)} ${a.type}: ${problems.join(' | ')}`);
      for (const p of problems) assert.doesNotMatch(p, /\n/);
    }
    assert.deepEqual(signatureProblems(syn, { type: 'synproxy', ratePerSecond: 200 }), []);
    assert.deepEqual(signatureProblems({ protocol: 'udp', destination: VICTIM, sourcePort: 161 }, { type: 'drop' }), []);
    assert.deepEqual(signatureProblems({ protocol: 'udp', destination: VICTIM, destinationPorts: { from: 27000, to: 27050 } }, { type: 'limit', ratePerSecond: 5000 }), []);
  });

  it('the schema takes one address as destination, and matches of detection convert', () => {
    assert.equal(signatureMatchSchema.safeParse({ protocol: 'udp', destination: '10.0.0.0/8' }).success, false);
    assert.equal(signatureMatchSchema.safeParse({ protocol: 'udp', destination: VICTIM, bogus: 1 }).success, false);
    const m = matchOfSignature({ text: 'udp sport 161 to 10.10.10.10', protocol: 'udp', destination: VICTIM, sourcePort: 161 });
    assert.deepEqual(m, { protocol: 'udp', destination: VICTIM, sourcePort: 161, text: 'udp sport 161 to 10.10.10.10' });
  });
});

describe('the planner: each vector gets a rule that spares the service', () => {
  it('a spoofed SYN flood to a listening port: synproxy, with a limit from the completed handshakes as its fallback; never a drop', () => {
    const rules = plan(() => [...fromSources(20_000, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443 }, { firstOctet: 100 }), ...webClients()]);
    assert.equal(rules.length, 1);
    const [r] = rules;
    assert.equal(r!.vector, 'syn_flood');
    assert.equal(r!.action.type, 'synproxy');
    assert.equal(r!.auto, true);
    assert.equal(r!.match.destinationPort, 443);
    // 80 completed handshakes/s (40 clients x 2) with 4x headroom, never above the flood floor.
    assert.equal(r!.action.ratePerSecond, 320);
    assert.match(r!.reason, /synproxy on port 443/);
  });

  it('SYNs to random ports: a limit, no synproxy (there is no one service)', () => {
    const rules = plan(() => [...fromSources(20_000, { dst: VICTIM, kind: 'syn', packets: 1 }, { firstOctet: 100, perSource: (j) => ({ dport: 1024 + (j % 60000) }) })]);
    assert.equal(rules[0]?.action.type, 'limit');
    assert.equal(rules[0]?.match.destinationPort, undefined);
    assert.ok((rules[0]?.action.ratePerSecond ?? 0) >= 100);
  });

  it('multi-vector amplification: a drop per abused source port, both automatic', () => {
    const rules = plan(() => [
      ...fromSources(3000, { dst: VICTIM, kind: 'udp', packets: 20, sport: 47808, packetBytes: 1200 }, { firstOctet: 61 }),
      ...fromSources(1500, { dst: VICTIM, kind: 'udp', packets: 15, sport: 37810, packetBytes: 800 }, { firstOctet: 62 }),
    ]);
    assert.deepEqual(rules.map((r) => [r.match.text, r.action.type, r.auto]).sort(), [
      ['udp sport 37810 to 10.10.10.10', 'drop', true],
      ['udp sport 47808 to 10.10.10.10', 'drop', true],
    ]);
  });

  it('fragments the victim never receives otherwise: dropped', () => {
    const rules = plan(() => [...fromSources(500, { dst: VICTIM, kind: 'fragment', packets: 2 }, { firstOctet: 80 }), ...webClients()]);
    const r = rules.find((x) => x.vector === 'fragment_flood');
    assert.ok(r, rules.map((x) => x.vector).join());
    assert.deepEqual([r.match.text, r.action.type, r.auto], ['ip fragments to 10.10.10.10', 'drop', true]);
  });

  it('SYN-ACK reflection: drop-invalid (packets of no connection); flag anomalies: drop', () => {
    const refl = plan(() => [...fromSources(3000, { dst: VICTIM, kind: 'synack', packets: 1, sport: 80 }, { firstOctet: 90 })]);
    assert.equal(refl[0]?.action.type, 'drop-invalid');
    assert.deepEqual(refl[0]?.match.tcpFlags, { mask: ['syn', 'rst', 'ack'], value: ['syn', 'ack'] });
    const nul = plan(() => [...fromSources(2000, { dst: VICTIM, kind: 'null', packets: 1 }, { firstOctet: 88 })]);
    assert.equal(nul.find((r) => r.vector === 'tcp_flag_anomaly')?.action.type, 'drop');
  });

  it('ICMP: a limit; a UDP flood to the service port: only proposed, never applied by itself', () => {
    const icmp = plan(() => [...fromSources(3000, { dst: VICTIM, kind: 'icmp', packets: 1 }, { firstOctet: 77 })]);
    assert.deepEqual([icmp[0]?.action.type, icmp[0]?.auto], ['limit', true]);
    const udp = plan(() => [...fromSources(30_000, { dst: VICTIM, kind: 'udp', packets: 1, dport: 9000 }, { firstOctet: 70, perSource: (j) => ({ sport: 1024 + (j % 60000) }) })]);
    const r = udp.find((x) => x.vector === 'udp_flood');
    assert.ok(r, udp.map((x) => x.vector).join());
    assert.equal(r.auto, false);
    assert.match(r.proposeOnly ?? '', /may be the service's own traffic/);
  });

  it('a flood per-IP bans can stop (a few heavy sources) gets no signature rule', () => {
    const rules = plan(() => [...fromSources(2, { dst: VICTIM, kind: 'udp', packets: 30_000, sport: 161 }, { firstOctet: 61 })]);
    assert.deepEqual(rules, []);
  });

  it('every planned rule is one the definition accepts, with a one-line reason', () => {
    const rules = [
      ...plan(() => [...fromSources(20_000, { dst: VICTIM, kind: 'syn', packets: 1, dport: 443 }, { firstOctet: 100 })]),
      ...plan(() => [...fromSources(3000, { dst: VICTIM, kind: 'udp', packets: 20, sport: 161 }, { firstOctet: 61 })]),
    ];
    for (const r of rules) {
      assert.deepEqual(signatureProblems(r.match, r.action), []);
      assert.ok(r.reason.length <= 256 && !/\n/.test(r.reason));
    }
  });
});
