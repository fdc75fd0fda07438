// `floodgate attack` for real: an HTTP flood against a server on 127.0.0.1
// whose own request count must match the summary, and hping3 floods from one
// namespace to another whose nft counters must see the packets. A refused
// target must send nothing at all.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createNsPair, inNs, isRoot, type NsPair } from '../support/netns.js';
import type { HttpFloodSummary } from '../../attack/http-flood.js';
import type { PacketFloodSummary } from '../../attack/packet-flood.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));

async function floodgate(args: string[], ns?: string) {
  const argv = ns ? ['ip', ['netns', 'exec', ns, process.execPath, bin, ...args]] as const : [process.execPath, [bin, ...args]] as const;
  const r = await execa(argv[0], [...argv[1]], { reject: false, timeout: 60_000 });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode };
}

describe('attack http against a local server', () => {
  let server: http.Server;
  let url: string;
  const seen = { total: 0, byStatus: new Map<number, number>() };

  before(async () => {
    // Every fifth request gets a 503, so non-2xx counting is exercised.
    server = http.createServer((req, res) => {
      seen.total++;
      const status = seen.total % 5 === 0 ? 503 : 200;
      seen.byStatus.set(status, (seen.byStatus.get(status) ?? 0) + 1);
      res.statusCode = status;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('the summary counts what the server counted, with a progress line a second', async () => {
    const r = await floodgate(['attack', 'http', url, '--concurrency', '4', '--rate', '400', '--duration', '3', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const s = JSON.parse(r.stdout) as HttpFloodSummary;
    await new Promise((res) => setTimeout(res, 200)); // the last in-flight requests reach the server
    assert.ok(s.requests.sent > 100, `sent ${s.requests.sent}`);
    // The cap holds: autocannon grants each connection its share of 400 at the start of
    // every second, so a 3 s run spans up to 4 windows, plus one request per connection
    // written as the time ran out. Uncapped, 4 connections on loopback send thousands a second.
    const windows = Math.ceil(s.durationSeconds) + 1;
    assert.ok(s.requests.sent <= 400 * windows + 4, `sent ${s.requests.sent} in ${s.durationSeconds} s with --rate 400`);
    assert.equal(s.requests.sent, seen.total, 'every request sent reached the server');
    // Requests still in flight when the time is up are sent but not answered: at most one per connection.
    assert.ok(s.requests.completed <= s.requests.sent && s.requests.sent - s.requests.completed <= 4, JSON.stringify(s.requests));
    assert.equal((s.statusCodes['200'] ?? 0) + (s.statusCodes['503'] ?? 0), s.requests.completed);
    assert.equal(s.non2xx, s.statusCodes['503']);
    assert.ok(Math.abs((s.statusCodes['503'] ?? 0) - (seen.byStatus.get(503) ?? 0)) <= 4, `503s: summary ${s.statusCodes['503']}, server ${seen.byStatus.get(503)}`);
    assert.equal(s.errors, 0);
    assert.ok(s.latencyMs.p50 <= s.latencyMs.p99 && s.latencyMs.p99 <= s.latencyMs.max);
    assert.match(r.stderr, /^flooding http:\/\/127\.0\.0\.1:\d+\/ \(127\.0\.0\.1: loopback\) for 3 s with 4 connections, at most 400 req\/s$/m);
    assert.match(r.stderr, /^\[1s\] \d+ req\/s, 0 errors\/s \(total \d+ responses, 0 errors\)$/m);
  });

  it('the text summary shows requests, req/s, latency percentiles, errors and status codes', async () => {
    const r = await floodgate(['attack', 'http', url, '-c', '2', '-r', '100', '-d', '1']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^http flood of http:\/\/127\.0\.0\.1:\d+\/ \(127\.0\.0\.1\) done: [\d.]+ s, 2 connections, capped at 100 req\/s$/m);
    assert.match(r.stdout, /^ {2}requests +\d+ answered of \d+ sent$/m);
    assert.match(r.stdout, /^ {2}latency +p50 \d+ ms, p90 \d+ ms, p99 \d+ ms, max \d+ ms$/m);
    assert.match(r.stdout, /^ {2}non-2xx +\d+$/m);
    assert.match(r.stdout, /^ {2}status codes +200: \d+, 503: \d+$/m);
  });

  it('a bad flag or a foreign target is one line, exit 2, and no request', async () => {
    const before = seen.total;
    for (const args of [
      ['attack', 'http', url, '--rate', '-5'],
      ['attack', 'http', url, '--concurrency', '0'],
      ['attack', 'http', 'http://192.0.2.1/'],
    ]) {
      const r = await floodgate(args);
      assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^floodgate: /);
    }
    assert.equal(seen.total, before);
  });
});

/** Named nft counters in namespace B (n_<name>: udp and icmp are nft keywords), one per kind of packet we send it. */
const COUNTERS = ['syn', 'udp', 'icmp', 'spoofed', 'routed'] as const;
type Counts = Record<(typeof COUNTERS)[number], number>;

describe('attack syn/udp/icmp between two namespaces', { skip: isRoot() ? false : 'needs root (namespaces, raw sockets)' }, () => {
  let pair: NsPair;
  const ROUTED = '10.82.1.200'; // in B, reached from A through a gateway: not on A's lab subnet

  const counts = async (): Promise<Counts> => {
    const out = JSON.parse(await inNs(pair.b, 'nft', ['-j', 'list', 'counters', 'table', 'inet', 'fgatkcount'])) as { nftables: { counter?: { name: string; packets: number } }[] };
    const c = Object.fromEntries(COUNTERS.map((n) => [n, 0])) as Counts;
    for (const o of out.nftables) if (o.counter) c[o.counter.name.replace(/^n_/, '') as keyof Counts] = o.counter.packets;
    return c;
  };
  const delta = (a: Counts, b: Counts) => Object.fromEntries(COUNTERS.map((n) => [n, b[n] - a[n]])) as Counts;

  before(async () => {
    pair = await createNsPair('10.82.0', 'fgatk');
    await inNs(pair.b, 'ip', ['addr', 'add', `${ROUTED}/32`, 'dev', 'lo']);
    await inNs(pair.a, 'ip', ['route', 'add', `${ROUTED}/32`, 'via', pair.ipB]);
    const rules = [
      'table inet fgatkcount {',
      ...COUNTERS.map((n) => `  counter n_${n} {}`),
      '  chain count {',
      '    type filter hook prerouting priority -300; policy accept;',
      `    ip daddr ${ROUTED} counter name "n_routed"`,
      '    tcp flags & (syn | ack) == syn counter name "n_syn"',
      '    meta l4proto udp counter name "n_udp"',
      '    icmp type echo-request counter name "n_icmp"',
      `    ip saddr != { ${pair.ipA}, ${pair.ipB} } counter name "n_spoofed"`,
      '  }',
      '}',
    ].join('\n');
    await execa('ip', ['netns', 'exec', pair.b, 'nft', '-f', '-'], { input: rules });
  });
  after(async () => {
    await pair?.destroy();
  });

  // hping3's closing count can miss the packet in flight when SIGINT lands: the peer may see one more.
  const flood = async (args: string[]) => {
    const c0 = await counts();
    const r = await floodgate(['attack', ...args], pair.a);
    await new Promise((res) => setTimeout(res, 300));
    return { r, d: delta(c0, await counts()), s: r.exitCode === 0 ? (JSON.parse(r.stdout) as PacketFloodSummary) : undefined };
  };

  it('syn at a rate: the peer sees the SYNs hping3 says it sent', async () => {
    const { r, d, s } = await flood(['syn', pair.ipB, '--port', '8080', '--rate', '2000', '--duration', '2', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(s!.transmitted > 200, `transmitted ${s!.transmitted}`);
    assert.ok(d.syn <= s!.transmitted + 1 && d.syn >= s!.transmitted * 0.95, `peer counted ${d.syn} SYNs of ${s!.transmitted}`);
    assert.equal(d.udp, 0);
    assert.deepEqual(s!.command, ['hping3', '-q', '-S', '-p', '8080', '-i', 'u500', pair.ipB]);
    assert.equal(s!.dev, pair.ifA);
    assert.match(r.stderr, new RegExp(`^syn flood of ${pair.ipB.replace(/\./g, '\\.')} port 8080 \\(.*on a subnet of lab namespace ${pair.a}\\) for 2 s, 2000 pps$`, 'm'));
    assert.match(r.stderr, new RegExp(`^\\[1s\\] \\d+ pkt/s sent on ${pair.ifA}$`, 'm'));
  });

  it('udp --flood: as fast as hping3 goes, and the peer receives them', async () => {
    const { r, d, s } = await flood(['udp', pair.ipB, '--port', '53', '--flood', '--duration', '1', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(s!.mode, 'flood');
    assert.ok(s!.transmitted > 1000, `transmitted ${s!.transmitted}`);
    // A flood can overrun the peer's backlog; most packets still arrive.
    assert.ok(d.udp <= s!.transmitted + 1 && d.udp >= s!.transmitted * 0.5, `peer counted ${d.udp} of ${s!.transmitted}`);
  });

  it('icmp with --rand-source: the peer sees echo requests from spoofed sources', async () => {
    const { r, d, s } = await flood(['icmp', pair.ipB, '--rate', '1000', '--duration', '1', '--rand-source', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(s!.randSource);
    assert.ok(d.icmp >= s!.transmitted * 0.95 && d.icmp <= s!.transmitted + 1, `peer counted ${d.icmp} of ${s!.transmitted}`);
    assert.ok(d.spoofed >= d.icmp * 0.95, `spoofed ${d.spoofed} of ${d.icmp}`);
  });

  it('the text summary names the kind, rate and hping3 count', async () => {
    const r = await floodgate(['attack', 'icmp', pair.ipB, '-d', '1', '-r', '200'], pair.a);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^icmp flood of ${pair.ipB.replace(/\./g, '\\.')} done: [\\d.]+ s, 200 pps$`, 'm'));
    assert.match(r.stdout, /^ {2}sent +\d+ packets \(hping3\)$/m);
    assert.match(r.stdout, /^ {2}command +hping3 -q -1 -i u5000 /m);
  });

  it('a target off the lab subnet is refused and sends nothing; the override proves the path works', async () => {
    for (const args of [['syn', ROUTED, '-d', '1', '--flood'], ['udp', ROUTED, '-d', '1'], ['icmp', ROUTED, '-d', '1'], ['http', `http://${ROUTED}:8080/`, '-d', '1']]) {
      const { r, d } = await flood(args);
      assert.equal(r.exitCode, 2, r.stderr);
      assert.equal(r.stderr.trim(), `floodgate: refusing to flood ${ROUTED}: ${ROUTED} is not loopback and not in a floodgate lab namespace (a network namespace named fg*); flood only systems you own, and pass --i-own-this-target if this is one`);
      assert.equal(r.stdout, '');
      assert.equal(d.routed, 0, `${args[0]}: nothing may reach ${ROUTED}`);
    }
    const { r, d } = await flood(['icmp', ROUTED, '-d', '1', '-r', '200', '--i-own-this-target', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(d.routed > 50, `with the override ${d.routed} packets reached ${ROUTED}`);
  });

  it('bad flags send nothing either', async () => {
    for (const args of [['syn', pair.ipB, '--port', '0'], ['udp', pair.ipB, '--rate', '10', '--flood'], ['icmp', pair.ipB, '--duration', 'soon']]) {
      const { r, d } = await flood(args);
      assert.equal(r.exitCode, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.deepEqual(d, { syn: 0, udp: 0, icmp: 0, spoofed: 0, routed: 0 });
    }
  });
});
