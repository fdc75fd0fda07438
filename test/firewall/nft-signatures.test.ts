// Signature rules in real nftables, inside throw-away network namespaces:
// every action loads, traffic really meets the rules (a dropped source port,
// a never-block source that passes, a handshake through synproxy), counters
// survive changes, and a removed rule leaves nothing behind.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { NftBackend } from '../../agent/firewall/nft-backend.js';
import { nftRulesOf, nftSignatureScript } from '../../agent/firewall/nft-signatures.js';
import type { FirewallSignature } from '../../agent/firewall/signature-types.js';
import { FirewallInputError } from '../../agent/firewall/types.js';
import { normalizeMatch, signatureId, type SignatureMatch } from '../../api/signature-rule.js';
import { INJECTION_CORPUS } from './helpers.js';
import { canConnect, connect, createNetns, startTcpServer, type TestNetns } from './netns.js';

function rule(match: SignatureMatch, action: FirewallSignature['action']): FirewallSignature {
  const m = normalizeMatch(match);
  return { id: signatureId(m), match: m, action, expiresAt: Date.now() + 3_600_000 };
}

const SYN = { mask: ['syn', 'ack', 'rst'] as const, value: ['syn'] as const };
const RULES: FirewallSignature[] = [
  rule({ protocol: 'udp', destination: '10.88.0.2', sourcePort: 161 }, { type: 'drop' }),
  rule({ protocol: 'any', destination: '10.88.0.2', fragment: 'any' }, { type: 'drop' }),
  rule({ protocol: 'any', destination: 'fd88::2', fragment: 'any' }, { type: 'limit', ratePerSecond: 50, burst: 10 }),
  rule({ protocol: 'icmp', destination: '10.88.0.2' }, { type: 'limit', ratePerSecond: 100, burst: 20 }),
  rule({ protocol: 'tcp', destination: '10.88.0.2', tcpFlags: { mask: ['syn', 'ack', 'rst'], value: ['syn', 'ack'] } }, { type: 'drop-invalid' }),
  rule({ protocol: 'tcp', destination: '10.88.0.2', destinationPort: 8080, tcpFlags: { mask: [...SYN.mask], value: [...SYN.value] } }, { type: 'synproxy', mss: 1460, wscale: 7, timestamp: true, sackPerm: true }),
  rule({ protocol: 'tcp', destination: 'fd88::2', destinationPorts: { from: 8000, to: 8100 }, tcpFlags: { mask: [...SYN.mask], value: [...SYN.value] } }, { type: 'limit', ratePerSecond: 400, burst: 80 }),
  rule({ protocol: 'tcp', destination: '10.88.0.2', tcpFlags: { mask: ['fin', 'syn', 'rst', 'psh', 'ack', 'urg'], value: [] } }, { type: 'drop' }),
];

describe('nft signature rules (built from validated values)', () => {
  it('writes each action where it can work, with its counter and tag on every rule', () => {
    const script = nftSignatureScript(RULES, ['10.88.0.0/30', '127.0.0.0/8', '::1/128']);
    const amp = RULES[0]!;
    assert.match(script, new RegExp(`add rule inet floodgate sig_early meta time < "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d" ip daddr 10\\.88\\.0\\.2 ip saddr != @sig_nb4 meta l4proto udp udp sport 161 counter name "sig_${amp.id}" drop comment "sig ${amp.id}"`));
    assert.match(script, /sig_early meta time < "[^"]+" ip daddr 10\.88\.0\.2 ip saddr != @sig_nb4 ip frag-off & 0x3fff != 0 counter name/);
    assert.match(script, /sig_early meta time < "[^"]+" ip6 daddr fd88::2 ip6 saddr != @sig_nb6 exthdr frag exists limit rate over 50\/second burst 10 packets counter name/);
    assert.match(script, /sig_ct meta time < "[^"]+" ip daddr 10\.88\.0\.2 .* tcp flags & \(syn \| rst \| ack\) == \(syn \| ack\) ct state invalid,new counter name/);
    assert.match(script, /sig_early .* tcp dport 8080 tcp flags & \(syn \| ack \| rst\) == syn counter name "sig_[0-9a-f]{16}" notrack comment/);
    assert.match(script, /sig_in .* tcp dport 8080 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm/);
    assert.match(script, /sig_fwd .* ct state invalid counter drop comment/);
    assert.match(script, /tcp dport 8000-8100/);
    assert.match(script, /tcp flags & \(fin \| syn \| rst \| psh \| ack \| urg\) == 0x0 counter name/);
    assert.match(script, /add element inet floodgate sig_nb4 \{ 10\.88\.0\.0\/30, 127\.0\.0\.0\/8 \}/);
    assert.match(script, /add element inet floodgate sig_nb6 \{ ::1 \}/);
    // Banned sources return first: the ban chain (raw, after sig_early) drops and counts them.
    const ruleLines = script.split('\n').filter((l) => l.startsWith('add rule'));
    assert.deepEqual(ruleLines.slice(0, 4), ['ip saddr @hosts4', 'ip saddr @blocked4', 'ip6 saddr @hosts6', 'ip6 saddr @blocked6'].map((m) => `add rule inet floodgate sig_early ${m} return`));
    // Every other rule line names its signature; none escapes the table.
    for (const line of ruleLines.slice(4)) assert.match(line, /comment "sig [0-9a-f]{16}"$/);
    for (const line of script.split('\n').filter(Boolean)) assert.match(line, / inet floodgate /);
  });

  it('refuses values that did not come through validation; nothing is built', () => {
    for (const bad of INJECTION_CORPUS) {
      assert.throws(() => nftRulesOf({ expiresAt: Date.now() + 60_000, id: 'a'.repeat(16), match: { protocol: 'udp', destination: bad, sourcePort: 1 }, action: { type: 'drop' } }), FirewallInputError, bad);
      assert.throws(() => nftRulesOf({ expiresAt: Date.now() + 60_000, id: 'a'.repeat(16), match: { protocol: 'udp', destination: '10.0.0.1', source: bad }, action: { type: 'drop' } }), FirewallInputError, bad);
      assert.throws(() => nftSignatureScript([], [bad]), FirewallInputError, bad);
    }
    assert.throws(() => nftRulesOf({ expiresAt: Date.now() + 60_000, id: 'x; flush ruleset', match: { protocol: 'udp', destination: '10.0.0.1' }, action: { type: 'drop' } }), /not a signature rule id/);
    assert.throws(() => nftRulesOf({ expiresAt: Date.now() + 60_000, id: 'a'.repeat(16), match: { protocol: 'udp', destination: '10.0.0.1', sourcePort: 70000 }, action: { type: 'drop' } }), FirewallInputError);
    assert.throws(() => nftRulesOf({ expiresAt: Date.now() + 60_000, id: 'a'.repeat(16), match: { protocol: 'udp', destination: '10.0.0.1', sourcePort: 1 }, action: { type: 'limit', ratePerSecond: 1.5, burst: 1 } }), FirewallInputError);
    assert.throws(
      () => nftRulesOf({ expiresAt: Date.now() + 60_000, id: 'a'.repeat(16), match: { protocol: 'tcp', destination: '10.0.0.1', tcpFlags: { mask: ['syn; drop' as 'syn'], value: [] } }, action: { type: 'drop' } }),
      FirewallInputError,
    );
  });
});

describe('nft signature rules (real nftables in network namespaces)', () => {
  let a: TestNetns; // the protected host (10.88.0.2)
  let b: TestNetns; // sources (10.88.0.1)
  let backend: NftBackend;
  before(async () => {
    a = await createNetns('sig-a');
    b = await createNetns('sig-b');
    await connect(b, a, { a4: '10.88.0.1', b4: '10.88.0.2', a6: 'fd88::1', b6: 'fd88::2' });
    backend = new NftBackend({ exec: a.exec });
    await backend.init();
  });
  after(async () => {
    await a.destroy();
    await b.destroy();
  });

  const udpFrom = (sport: number, count: number) =>
    execa('ip', [
      'netns', 'exec', b.name, process.execPath, '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(${sport},()=>{let n=0;const go=()=>{if(n++>=${count})return s.close();s.send(Buffer.alloc(64),9999,'10.88.0.2',go)};go()})`,
    ]);
  const counter = async (id: string) => (await backend.signatures.counters()).get(id)?.packets ?? 0;

  it('every action loads in one transaction; the listing holds each rule and its counter', async () => {
    await backend.signatures.sync(RULES, ['127.0.0.0/8', '::1/128']);
    const table = await a.sh('nft', 'list', 'table', 'inet', 'floodgate');
    for (const r of RULES) assert.match(table, new RegExp(`counter sig_${r.id} `), r.match.text);
    assert.match(table, /synproxy mss 1460 wscale 7 timestamp sack-perm/);
    assert.match(table, /hook prerouting priority -450/);
    assert.deepEqual((await backend.signatures.list()).sort(), RULES.map((r) => r.id).sort());
  });

  it('drops UDP from the abused source port and counts it; other ports and never-block sources pass', async () => {
    const amp = RULES[0]!;
    await backend.signatures.sync([amp], ['127.0.0.0/8']);
    const before = await counter(amp.id);
    await udpFrom(161, 50);
    await udpFrom(5353, 10);
    assert.equal((await counter(amp.id)) - before, 50);
    // The same source on the never-block list: the rule no longer matches it.
    await backend.signatures.sync([amp], ['10.88.0.1/32']);
    await udpFrom(161, 20);
    assert.equal((await counter(amp.id)) - before, 50);
  });

  it("keeps a rule's counter across syncs, and a removed rule leaves no rule, helper or counter behind", async () => {
    const amp = RULES[0]!;
    const proxy = RULES[5]!;
    await backend.signatures.sync([amp, proxy], []);
    await udpFrom(161, 5);
    const kept = await counter(amp.id);
    assert.ok(kept >= 5);
    await backend.signatures.sync([amp], []);
    assert.equal(await counter(amp.id), kept, 'the counter of a rule that stays keeps its value');
    const table = await a.sh('nft', 'list', 'table', 'inet', 'floodgate');
    assert.doesNotMatch(table, new RegExp(proxy.id), 'no notrack, synproxy, invalid drop or counter of the removed rule');
    assert.doesNotMatch(table, /notrack|synproxy/);
    await backend.signatures.sync([], []);
    assert.doesNotMatch(await a.sh('nft', 'list', 'table', 'inet', 'floodgate'), /sig_[0-9a-f]{16}/);
  });

  it('a client completes its handshake through synproxy (SYN cookies answered by the proxy)', async () => {
    await a.sh('sysctl', '-qw', 'net.netfilter.nf_conntrack_tcp_loose=0');
    const server = await startTcpServer(a, 8080);
    try {
      const proxy = RULES[5]!;
      await backend.signatures.sync([proxy], []);
      assert.equal(await canConnect(b, '10.88.0.2', 8080, 3000), true);
      assert.ok((await counter(proxy.id)) >= 1, "the client's SYN was counted on its way to the proxy");
    } finally {
      server.stop();
      await backend.signatures.sync([], []);
    }
  });

  it('a rule stops matching at its expiry by itself, with no agent to remove it', async () => {
    const amp = { ...RULES[0]!, expiresAt: Date.now() + 1500 };
    await backend.signatures.sync([amp], []);
    const start = await counter(amp.id);
    await udpFrom(161, 5);
    assert.equal((await counter(amp.id)) - start, 5, 'matches before its expiry');
    await new Promise((r) => setTimeout(r, Math.max(0, amp.expiresAt - Date.now()) + 1100));
    await udpFrom(161, 5);
    assert.equal((await counter(amp.id)) - start, 5, 'matches nothing after it');
    await backend.signatures.sync([], []);
  });

  it('a change is one nft run (its counters are known), and a table changed behind its back is listed again', async () => {
    const calls: { argv: readonly string[]; input?: string }[] = [];
    const counting = new NftBackend({ exec: (argv, opts) => (calls.push({ argv, input: opts?.input }), a.exec(argv, opts)) });
    await counting.init();
    const [amp, proxy, icmp] = [RULES[0]!, RULES[5]!, RULES[3]!];
    await counting.signatures.sync([amp, proxy], []);
    // A new rule (a flood's first): appended in one short transaction, the layout a rebuild gives.
    calls.length = 0;
    await counting.signatures.sync([amp, proxy, icmp], []);
    assert.deepEqual(calls.map((c) => c.argv.slice(0, 2).join(' ')), ['nft -f'], 'no listing on the way to a rule');
    assert.doesNotMatch(calls[0]!.input ?? '', /flush/, 'nothing rebuilt for an appended rule');
    const appended = await a.sh('nft', 'list', 'table', 'inet', 'floodgate');
    // A rule given twice is refused, not appended: nothing runs.
    calls.length = 0;
    await assert.rejects(counting.signatures.sync([amp, proxy, icmp, RULES[7]!, RULES[7]!], []), FirewallInputError);
    assert.deepEqual(calls.filter((c) => c.argv.includes('-f')), [], 'no transaction for a refused change');
    await new NftBackend({ exec: a.exec }).signatures.sync([amp, proxy, icmp], []);
    const rebuilt = await a.sh('nft', 'list', 'table', 'inet', 'floodgate');
    const layout = (t: string) => t.replace(/packets \d+ bytes \d+/g, '').replace(/handle \d+/g, '');
    assert.equal(layout(appended), layout(rebuilt));
    // A removal rebuilds, still without listing.
    calls.length = 0;
    await counting.signatures.sync([amp], []);
    assert.deepEqual(calls.map((c) => c.argv.slice(0, 2).join(' ')), ['nft -f'], 'no listing on the way to a rule');
    assert.doesNotMatch(await a.sh('nft', 'list', 'table', 'inet', 'floodgate'), new RegExp(`${proxy.id}|${icmp.id}`));
    // Someone else removed the table: the counters it knew are gone, so it lists and still gets there.
    await a.sh('nft', 'delete', 'table', 'inet', 'floodgate');
    await counting.init();
    calls.length = 0;
    await counting.signatures.sync([amp, proxy], []);
    assert.ok(calls.some((c) => c.argv.includes('list')), 'listed the counters again');
    assert.match(await a.sh('nft', 'list', 'table', 'inet', 'floodgate'), new RegExp(`counter sig_${proxy.id} `));
    await counting.signatures.sync([], []);
  });

  it('teardown removes the signature chains with the table', async () => {
    await backend.signatures.sync([RULES[0]!], []);
    await backend.teardown();
    const r = await execa('ip', ['netns', 'exec', a.name, 'nft', 'list', 'table', 'inet', 'floodgate'], { reject: false });
    assert.notEqual(r.exitCode, 0);
  });
});
