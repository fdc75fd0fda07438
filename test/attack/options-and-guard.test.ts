// `floodgate attack`: flag validation (one zod schema per kind, one-line
// errors naming the flag) and the target guard's rules, with an injected view
// of the network and against this machine's real one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { httpFloodSchema, InvalidAttackOptions, packetFloodSchema, parseOptions } from '../../attack/options.js';
import { checkTarget, TargetRefused, type NetworkView } from '../../attack/target-guard.js';
import { hping3Args, parseHping3Stats } from '../../attack/packet-flood.js';
import { pinnedUrl } from '../../attack/http-flood.js';

const badHttp = (flags: Record<string, unknown>) => () => parseOptions(httpFloodSchema, { url: 'http://127.0.0.1/', ...flags });
const badPacket = (flags: Record<string, unknown>) => () => parseOptions(packetFloodSchema, { kind: 'syn', dest: '127.0.0.1', ...flags });

describe('attack flags', () => {
  it('http: defaults and coercion from commander strings', () => {
    const o = parseOptions(httpFloodSchema, { url: 'http://127.0.0.1:8080/x', concurrency: '50', rate: '200', duration: '2.5', method: 'post', header: ['X-Test: 1'] });
    assert.deepEqual(
      { c: o.concurrency, r: o.rate, d: o.duration, m: o.method, h: o.header, t: o.timeout, own: o.iOwnThisTarget },
      { c: 50, r: 200, d: 2.5, m: 'POST', h: ['X-Test: 1'], t: 10, own: false },
    );
    const d = parseOptions(httpFloodSchema, { url: 'https://localhost/' });
    assert.equal(d.concurrency, 10);
    assert.equal(d.rate, undefined);
    assert.equal(d.duration, 10);
  });

  it('http: each bad flag is one line naming the flag and the value', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ url: 'ftp://127.0.0.1/' }, /^url "ftp:\/\/127\.0\.0\.1\/" must be an http:\/\/ or https:\/\/ URL$/],
      [{ url: 'not a url' }, /^url "not a url" must be/],
      [{ concurrency: '0' }, /^--concurrency "0" must be a whole number of connections, 1 to 10000$/],
      [{ concurrency: '2.5' }, /^--concurrency "2\.5" must be a whole number/],
      [{ rate: 'fast' }, /^--rate "fast" must be a whole number of requests per second/],
      [{ duration: '-1' }, /^--duration "-1" must be more than 0 seconds$/],
      [{ duration: '7200' }, /^--duration "7200" must be at most 3600 seconds$/],
      [{ method: 'BREW' }, /^--method "BREW" must be one of GET/],
      [{ header: ['no colon'] }, /^--header "no colon" must be "Name: value"$/],
      [{ header: ['X: a\r\nInjected: 1'] }, /^--header .* must be "Name: value"$/],
      [{ bogus: true }, /^unknown option --bogus$/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(badHttp(flags), (err: Error) => err instanceof InvalidAttackOptions && message.test(err.message) && !err.message.includes('\n'), JSON.stringify(flags));
    }
  });

  it('packets: rate defaults to 1000 pps, --flood has no rate, icmp has no port', () => {
    const syn = parseOptions(packetFloodSchema, { kind: 'syn', dest: '127.0.0.1' });
    assert.equal(syn.port, 80);
    assert.equal(syn.rate, 1000);
    const flood = parseOptions(packetFloodSchema, { kind: 'udp', dest: '127.0.0.1', port: '53', flood: true });
    assert.equal(flood.rate, undefined);
    assert.equal(flood.port, 53);
    assert.equal(parseOptions(packetFloodSchema, { kind: 'icmp', dest: 'x' }).port, undefined);
  });

  it('packets: bad flags are refused in one line', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ port: '0' }, /^--port "0" must be a port number 1-65535$/],
      [{ port: '70000' }, /^--port "70000" must be a port number 1-65535$/],
      [{ rate: '0' }, /^--rate "0" must be a whole number of packets per second/],
      [{ rate: '100', flood: true }, /^--rate "100" and --flood exclude each other/],
      [{ kind: 'icmp', port: '7' }, /^--port "7" does not apply to icmp$/],
      [{ dest: '' }, /^dest "" is required$/],
      [{ duration: 'abc' }, /^--duration "abc" must be a number of seconds$/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(badPacket(flags), (err: Error) => err instanceof InvalidAttackOptions && message.test(err.message), JSON.stringify(flags));
    }
  });

  it('hping3 argv: one flag per mode, the checked address last, never a shell string', () => {
    const o = (f: Record<string, unknown>) => parseOptions(packetFloodSchema, { dest: 'victim', ...f });
    assert.deepEqual(hping3Args(o({ kind: 'syn', port: '443', rate: '2000' }), '10.82.0.10'), ['-q', '-S', '-p', '443', '-i', 'u500', '10.82.0.10']);
    assert.deepEqual(hping3Args(o({ kind: 'udp', flood: true, randSource: true }), '10.82.0.10'), ['-q', '-2', '-p', '80', '--flood', '--rand-source', '10.82.0.10']);
    assert.deepEqual(hping3Args(o({ kind: 'icmp' }), '10.82.0.10'), ['-q', '-1', '-i', 'u1000', '10.82.0.10']);
  });

  it('hping3 statistics are parsed from its closing lines', () => {
    const out = 'HPING 10.0.0.2 (eth0 10.0.0.2): S set, 40 headers + 0 data bytes\n\n--- 10.0.0.2 hping statistic ---\n1599 packets transmitted, 1597 packets received, 1% packet loss\n';
    assert.deepEqual(parseHping3Stats(out), { transmitted: 1599, received: 1597 });
    assert.equal(parseHping3Stats('[open_sockraw] socket(): Operation not permitted'), undefined);
  });

  it('the http flood goes to the checked address, keeping the path and port', () => {
    assert.equal(pinnedUrl('http://victim.lab:8080/a?b=1', '10.82.0.10'), 'http://10.82.0.10:8080/a?b=1');
    assert.equal(pinnedUrl('http://localhost/', '::1'), 'http://[::1]/');
  });
});

/** A machine seen through the guard: which namespace we are in, its subnets, the lab's addresses, routes. */
function view(v: Partial<{ ns: string; subnets: string[]; lab: Record<string, string>; routes: Record<string, { dev?: string; gateway?: string }>; dns: Record<string, string[]> }>): NetworkView {
  return {
    currentNetns: async () => v.ns,
    connectedSubnets: async () => v.subnets ?? [],
    labNamespaceAddresses: async () => new Map(Object.entries(v.lab ?? {})),
    routeTo: async (a) => v.routes?.[a],
    resolve: async (h) => {
      const found = v.dns?.[h] ?? (/^[\d.]+$|:/.test(h) ? [h] : undefined);
      if (!found) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return found;
    },
  };
}

const refused = (re: RegExp) => (err: Error) => err instanceof TargetRefused && re.test(err.message) && !err.message.includes('\n');

describe('target guard', () => {
  it('loopback is always allowed, v4 and v6', async () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1']) assert.equal((await checkTarget(a, { view: view({}) })).rule, 'loopback');
    assert.equal((await checkTarget('[::1]', { view: view({}) })).address, '::1');
  });

  it('inside a lab namespace (fg*), its directly connected subnets are allowed, nothing else', async () => {
    const v = view({ ns: 'fgatk-attacker', subnets: ['10.82.0.66/24'] });
    const t = await checkTarget('10.82.0.10', { view: v });
    assert.equal(t.rule, 'lab-subnet');
    assert.match(t.why, /fgatk-attacker/);
    await assert.rejects(checkTarget('10.82.1.10', { view: v }), refused(/^refusing to flood 10\.82\.1\.10: .*pass --i-own-this-target/));
    await assert.rejects(checkTarget('8.8.8.8', { view: v }), refused(/not loopback and not in a floodgate lab namespace/));
  });

  it('a namespace not named like a lab gives its subnets no pass', async () => {
    const v = view({ ns: 'production', subnets: ['10.82.0.66/24'] });
    await assert.rejects(checkTarget('10.82.0.10', { view: v }), refused(/refusing/));
    await assert.rejects(checkTarget('10.82.0.10', { view: view({ subnets: ['10.82.0.66/24'] }) }), refused(/refusing/));
  });

  it('a lab namespace address is allowed only when reached directly through a lab device', async () => {
    const lab = { '10.82.0.10': 'fgatk-victim' };
    const direct = view({ lab, routes: { '10.82.0.10': { dev: 'fgatk-host' } } });
    assert.equal((await checkTarget('10.82.0.10', { view: direct })).rule, 'lab-namespace');
    // The same address through the default route would leave the machine.
    const viaGateway = view({ lab, routes: { '10.82.0.10': { dev: 'eth0', gateway: '192.168.1.1' } } });
    await assert.rejects(checkTarget('10.82.0.10', { view: viaGateway }), refused(/refusing/));
    const viaOtherDevice = view({ lab, routes: { '10.82.0.10': { dev: 'eth0' } } });
    await assert.rejects(checkTarget('10.82.0.10', { view: viaOtherDevice }), refused(/refusing/));
  });

  it('hostnames are resolved first and every address must pass; the flood uses the checked one', async () => {
    const v = view({ dns: { 'victim.lab': ['127.0.0.5'], 'mixed.example': ['127.0.0.1', '93.184.216.34'] } });
    const t = await checkTarget('victim.lab', { view: v });
    assert.deepEqual([t.address, t.rule], ['127.0.0.5', 'loopback']);
    await assert.rejects(checkTarget('mixed.example', { view: v }), refused(/^refusing to flood mixed\.example \(127\.0\.0\.1, 93\.184\.216\.34\): 93\.184\.216\.34 is not loopback/));
    await assert.rejects(checkTarget('nowhere.invalid', { view: v }), refused(/^cannot resolve nowhere\.invalid: ENOTFOUND$/));
  });

  it('packet floods need an IPv4 address', async () => {
    await assert.rejects(checkTarget('::1', { view: view({}), family: 4 }), refused(/no IPv4 address \(hping3 floods are IPv4 only\)/));
  });

  it('--i-own-this-target lets any resolvable destination through', async () => {
    const t = await checkTarget('93.184.216.34', { view: view({}), iOwnThisTarget: true });
    assert.equal(t.rule, 'override');
  });

  it('on this machine: localhost passes, a public address does not', async () => {
    assert.equal((await checkTarget('localhost')).rule, 'loopback');
    await assert.rejects(checkTarget('192.0.2.1'), refused(/^refusing to flood 192\.0\.2\.1/));
  });
});
