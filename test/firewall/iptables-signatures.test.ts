// Signature rules in iptables (raw/mangle/filter chains of our own, hashlimit,
// SYNPROXY) and pf (a sub-anchor, by command plan with a recording pfctl):
// built only from validated values, what each backend refuses and why, and,
// for iptables, loaded into real iptables in a network namespace, where a
// dropped source port counts and a removed rule leaves nothing.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { execa } from 'execa';
import { IptablesBackend } from '../../agent/firewall/iptables-backend.js';
import { iptablesRestoreInput, iptablesRulesOf, parseIptablesCounters } from '../../agent/firewall/iptables-signatures.js';
import { PfBackend } from '../../agent/firewall/pf-backend.js';
import { parsePfLabels, pfRuleOf, pfUnsupported } from '../../agent/firewall/pf-signatures.js';
import type { FirewallSignature } from '../../agent/firewall/signature-types.js';
import { FirewallInputError } from '../../agent/firewall/types.js';
import { normalizeMatch, signatureId, type SignatureMatch } from '../../api/signature-rule.js';
import { installFakePfctl, type FakePfctl } from './fake-pfctl.js';
import { INJECTION_CORPUS } from './helpers.js';
import { connect, createNetns, type TestNetns } from './netns.js';

function rule(match: SignatureMatch, action: FirewallSignature['action']): FirewallSignature {
  const m = normalizeMatch(match);
  return { id: signatureId(m), match: m, action, expiresAt: Date.now() + 3_600_000 };
}
const SYN = { mask: ['syn' as const, 'ack' as const, 'rst' as const], value: ['syn' as const] };
const amp = rule({ protocol: 'udp', destination: '10.89.0.2', sourcePort: 161 }, { type: 'drop' });
const proxy = rule({ protocol: 'tcp', destination: '10.89.0.2', destinationPort: 443, tcpFlags: SYN }, { type: 'synproxy', mss: 1460, wscale: 7, timestamp: true, sackPerm: true });
const limit = rule({ protocol: 'icmp', destination: 'fd89::2' }, { type: 'limit', ratePerSecond: 100, burst: 20 });
const reflection = rule({ protocol: 'tcp', destination: '10.89.0.2', tcpFlags: { mask: ['syn', 'ack', 'rst'], value: ['syn', 'ack'] } }, { type: 'drop-invalid' });
const fragments = rule({ protocol: 'any', destination: '10.89.0.2', fragment: 'any' }, { type: 'drop' });

describe('iptables signature rules (built from validated values)', () => {
  it('drops in raw, limits with hashlimit, drop-invalid in mangle, SYNPROXY in filter with the notrack helper', () => {
    const lines = [amp, proxy, limit, reflection].flatMap((r) => iptablesRulesOf(r).lines);
    const text = iptablesRestoreInput(lines);
    assert.match(text, new RegExp(`-A FLOODGATE-SIG -d 10\\.89\\.0\\.2 -m set ! --match-set floodgate-nb4 src -m time --datestop \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d -p udp --sport 161 -j DROP -m comment --comment "sig ${amp.id}"`));
    assert.match(text, /-p ipv6-icmp -m icmp6 --icmpv6-type echo-request -m hashlimit --hashlimit-above 100\/sec --hashlimit-burst 20 --hashlimit-mode dstip --hashlimit-name fg[0-9a-f]{13} -j DROP/);
    assert.match(text, /\*mangle\n:FLOODGATE-SIGCT - \[0:0\]\n-F FLOODGATE-SIGCT\n-A FLOODGATE-SIGCT .* --tcp-flags SYN,RST,ACK SYN,ACK -m conntrack --ctstate INVALID,NEW -j DROP/);
    assert.match(text, new RegExp(`-A FLOODGATE-SIG .* --dport 443 --tcp-flags SYN,ACK,RST SYN -j CT --notrack -m comment --comment "sig ${proxy.id} helper"`));
    assert.match(text, /-A FLOODGATE-SYNPROXY .* --dport 443 -m conntrack --ctstate INVALID,UNTRACKED -j SYNPROXY --mss 1460 --wscale 7 --timestamp --sack-perm/);
    // Counters carried over by comment, to the first rule of each.
    const kept = iptablesRestoreInput(iptablesRulesOf(amp).lines, new Map([[`sig ${amp.id}`, { packets: 42, bytes: 2520 }]]));
    assert.match(kept, /^\[42:2520\] -A FLOODGATE-SIG /m);
    assert.deepEqual(parseIptablesCounters(`    7   420 DROP  17  --  *  *  0.0.0.0/0  10.89.0.2  /* sig ${amp.id} */\n`), new Map([[`sig ${amp.id}`, { packets: 7, bytes: 420 }]]));
  });

  it('refuses fragments (raw sees reassembled packets) and values that did not come through validation', () => {
    assert.throws(() => iptablesRulesOf(fragments), /cannot match fragments: its raw table sees packets after the kernel reassembled them/);
    assert.match(new IptablesBackend({ exec: async () => ({ stdout: '', stderr: '', exitCode: 0 }) }).signatures.unsupported(fragments) ?? '', /use the nft backend/);
    for (const bad of INJECTION_CORPUS) {
      assert.throws(() => iptablesRulesOf({ ...amp, match: { ...amp.match, destination: bad } }), FirewallInputError, bad);
      assert.throws(() => iptablesRulesOf({ ...amp, id: bad }), FirewallInputError, bad);
    }
    assert.throws(() => iptablesRulesOf({ ...limit, action: { type: 'limit', ratePerSecond: 2_000_000, burst: 5 } }), /hashlimit/);
  });
});

describe('iptables signature rules (real iptables in a network namespace)', () => {
  let a: TestNetns;
  let b: TestNetns;
  before(async () => {
    a = await createNetns('sipt-a');
    b = await createNetns('sipt-b');
    await connect(b, a, { a4: '10.89.0.1', b4: '10.89.0.2', a6: 'fd89::1', b6: 'fd89::2' });
  });
  after(async () => {
    await a.destroy();
    await b.destroy();
  });

  it('every action loads; a dropped source port counts; a removed rule leaves no rule, helper or jump behind', async () => {
    const backend = new IptablesBackend({ exec: a.exec });
    await backend.init();
    await backend.signatures.sync([amp, proxy, limit, reflection], ['127.0.0.0/8', '::1/128']);
    const raw = await a.sh('iptables', '-w', '-t', 'raw', '-S');
    assert.match(raw, /^-A PREROUTING -j FLOODGATE-SIG$/m);
    assert.match(await a.sh('iptables', '-w', '-t', 'filter', '-S'), /-j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460/);
    assert.match(await a.sh('ip6tables', '-w', '-t', 'raw', '-S', 'FLOODGATE-SIG'), /hashlimit/);
    await execa('ip', ['netns', 'exec', b.name, process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.bind(161,()=>{let n=0;const go=()=>{if(n++>=30)return s.close();s.send(Buffer.alloc(64),9999,'10.89.0.2',go)};go()})"]);
    assert.equal((await backend.signatures.counters()).get(amp.id)?.packets, 30);
    await backend.signatures.sync([amp], []);
    assert.equal((await backend.signatures.counters()).get(amp.id)?.packets, 30, 'counters carried over a rebuild');
    await backend.signatures.sync([], []);
    for (const [tool, table] of [['iptables', 'raw'], ['iptables', 'filter'], ['iptables', 'mangle'], ['ip6tables', 'raw']] as const) {
      assert.doesNotMatch(await a.sh(tool, '-w', '-t', table, '-S'), /sig [0-9a-f]{16}/, `${tool} ${table}`);
    }
    await backend.teardown();
    assert.doesNotMatch(await a.sh('iptables', '-w', '-t', 'raw', '-S'), /FLOODGATE-SIG/);
  });
});

describe('pf signature rules (command plan, a recording pfctl)', () => {
  let fake: FakePfctl;
  beforeEach(async () => {
    fake = await installFakePfctl();
  });
  afterEach(async () => {
    await fake.cleanup();
  });

  it('the nearest equivalents, in the sub-anchor floodgate/signatures, loaded whole', async () => {
    assert.equal(pfRuleOf(amp), `block drop in quick inet proto udp from ! <floodgate_nb> port 161 to 10.89.0.2 label "sig_${amp.id}"`);
    assert.equal(pfRuleOf(reflection), `block drop in quick inet proto tcp from ! <floodgate_nb> to 10.89.0.2 flags SA/SRA label "sig_${reflection.id}"`);
    assert.equal(pfRuleOf(proxy), `pass in inet proto tcp from ! <floodgate_nb> to 10.89.0.2 port 443 flags S/SA synproxy state label "sig_${proxy.id}"`);
    const backend = new PfBackend({ exec: fake.exec });
    await backend.init();
    await fake.clearLog();
    await backend.signatures.sync([amp, proxy], ['127.0.0.0/8', '10.0.0.1/32']);
    const counters = await backend.signatures.counters();
    const [load] = await fake.log();
    assert.deepEqual(load?.argv, ['-a', 'floodgate/signatures', '-f', '-']);
    assert.equal(load?.stdin?.split('\n')[0], 'table <floodgate_nb> const { 127.0.0.0/8 10.0.0.1/32 }');
    assert.deepEqual(counters.get(amp.id), { packets: 42, bytes: 2520 });
    assert.deepEqual((await backend.signatures.list()).sort(), [amp.id, proxy.id].sort());
  });

  it('refuses limits and fragments with the reason; parses labels', () => {
    assert.match(pfUnsupported(limit) ?? '', /pf cannot limit a rule to a packet rate/);
    assert.match(pfUnsupported(fragments) ?? '', /pf cannot match fragments/);
    assert.throws(() => pfRuleOf(limit), FirewallInputError);
    assert.deepEqual(parsePfLabels(`sig_${amp.id} 120 42 2520 42 2520 0 0 0\nother 1 2 3\n`), new Map([[amp.id, { packets: 42, bytes: 2520 }]]));
  });
});
