import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressPolicy } from '../../agent/bans/address-policy.js';
import { parseLinuxDefaultGateways, parseResolvConf, parseRouteGetGateway } from '../../agent/bans/protected-addresses.js';
import { INJECTION_CORPUS } from '../firewall/helpers.js';

// A host at 10.1.2.3/16 and 2001:db8:aa::3/64, gateway 10.1.0.1, resolver 10.1.0.2.
const interfaces = () => ({
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' as const, mac: '', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '10.1.2.3', netmask: '255.255.0.0', family: 'IPv4' as const, mac: '', internal: false, cidr: '10.1.2.3/16' },
    { address: '2001:db8:aa::3', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6' as const, mac: '', internal: false, cidr: '2001:db8:aa::3/64', scopeid: 0 },
  ],
});

function policy(config = {}) {
  return AddressPolicy.create(
    { allowlist: ['10.244.0.0/16', '10.96.0.0/12'], ...config },
    { interfaces, gateways: async () => ['10.1.0.1', 'fe80::1'], resolvers: async () => ['10.1.0.2'] },
  );
}

describe('address policy', () => {
  it('normalises: IPv4 to /32, IPv6 to its /64, host bits zeroed, mapped IPv4 unwrapped', async () => {
    const p = await policy();
    const cidr = (input: string) => {
      const d = p.check(input);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      return d.target.cidr;
    };
    assert.equal(cidr('203.0.113.7'), '203.0.113.7/32');
    assert.equal(cidr('203.0.113.77/24'), '203.0.113.0/24');
    assert.equal(cidr('2001:DB8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(cidr('2001:db8:1::/56'), '2001:db8:1::/56');
    assert.equal(cidr('::ffff:203.0.113.7'), '203.0.113.7/32');
  });

  it('honours a configured IPv6 ban prefix', async () => {
    const p = await policy({ ipv6BanPrefix: 128 });
    const d = p.check('2001:db8:1::5');
    assert.ok(d.ok);
    assert.equal(d.target.cidr, '2001:db8:1::5/128');
  });

  const refusals: [string, string][] = [
    ['127.0.0.1', 'refusing to block 127.0.0.1: loopback'],
    ['::1', 'refusing to block ::1: loopback'],
    ['0.0.0.0', 'refusing to block 0.0.0.0: unspecified address'],
    ['::', 'refusing to block ::: unspecified address'],
    ['10.1.2.3', 'refusing to block 10.1.2.3: own address'],
    ['10.1.0.1', 'refusing to block 10.1.0.1: default gateway'],
    ['10.1.0.2', 'refusing to block 10.1.0.2: DNS resolver'],
    ['10.1.255.255', 'refusing to block 10.1.255.255: subnet broadcast'],
    ['255.255.255.255', 'refusing to block 255.255.255.255: broadcast'],
    ['239.1.2.3', 'refusing to block 239.1.2.3: multicast'],
    ['ff02::1', 'refusing to block ff02::1: multicast'],
    ['169.254.169.254', 'refusing to block 169.254.169.254: link-local'],
    ['fe80::1234', 'refusing to block fe80::1234: link-local'],
    ['10.244.3.9', 'refusing to block 10.244.3.9: allowlisted (10.244.0.0/16)'],
    ['10.100.0.0/24', 'refusing to block 10.100.0.0/24: allowlisted (10.96.0.0/12)'],
    ['10.0.0.0/8', 'refusing to block 10.0.0.0/8: prefix /8 is broader than the minimum /16 for IPv4'],
    ['0.0.0.0/0', 'refusing to block 0.0.0.0/0: prefix /0 is broader than the minimum /16 for IPv4'],
    ['10.1.0.0/16', 'refusing to block 10.1.0.0/16: contains own address 10.1.2.3'],
    ['2001:db8:aa::99', 'refusing to block 2001:db8:aa::99 (as 2001:db8:aa::/64): contains own address 2001:db8:aa::3'],
    ['2001:db8::/32', 'refusing to block 2001:db8::/32: prefix /32 is broader than the minimum /48 for IPv6'],
    ['1.2.3.4; rm -rf /', 'refusing to block "1.2.3.4; rm -rf /": not an IP address or CIDR'],
    ['1.2.3.4\nflush ruleset', 'refusing to block "1.2.3.4\\nflush ruleset": not an IP address or CIDR'],
  ];
  for (const [input, reason] of refusals) {
    it(`refuses ${JSON.stringify(input)}`, async () => {
      const d = (await policy()).check(input);
      assert.equal(d.ok, false);
      assert.equal(d.ok ? '' : d.reason, reason);
    });
  }

  it('a ban that contains a protected address is refused even with no minimum prefix', async () => {
    const p = await policy({ minPrefixV4: 0, minPrefixV6: 0 });
    const d = p.check('0.0.0.0/0');
    assert.equal(d.ok, false);
    assert.match(d.ok ? '' : d.reason, /^refusing to block 0\.0\.0\.0\/0: contains /);
    const e = p.check('10.0.0.0/8');
    assert.equal(e.ok ? '' : e.reason, 'refusing to block 10.0.0.0/8: contains own address 10.1.2.3');
  });

  it('every refusal reason is a single line, even for hostile input', async () => {
    const p = await policy();
    for (const bad of INJECTION_CORPUS) {
      const d = p.check(bad);
      assert.equal(d.ok, false, JSON.stringify(bad));
      if (!d.ok) {
        assert.equal(d.code, 'invalid');
        assert.ok(!d.reason.includes('\n') && d.reason.length < 120, d.reason);
      }
    }
    assert.equal(p.check(42).ok, false);
    assert.equal(p.check(undefined).ok, false);
  });

  it('rejects an invalid allowlist entry at startup', async () => {
    await assert.rejects(policy({ allowlist: ['10.0.0.0/33'] }), /allowlist entry is not an IP or CIDR/);
  });
});

describe('protected address discovery', () => {
  it('reads default gateways from /proc/net/route and /proc/net/ipv6_route', () => {
    const route = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    ].join('\n');
    const ipv6 = [
      'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000002 00000000 00000003     eth0',
    ].join('\n');
    assert.deepEqual(parseLinuxDefaultGateways(route, ipv6), ['192.168.1.1', 'fe80::1']);
  });

  it('reads the macOS route -n get default answer', () => {
    const text = '   route to: default\ndestination: default\n       mask: default\n    gateway: 192.168.1.254\n  interface: en0\n';
    assert.equal(parseRouteGetGateway(text), '192.168.1.254');
    assert.equal(parseRouteGetGateway('    gateway: fe80::1%en0\n'), 'fe80::1');
  });

  it('reads nameservers from resolv.conf', () => {
    const text = '# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\n';
    assert.deepEqual(parseResolvConf(text), ['10.0.0.2', 'fe80::1']);
  });

  it('with no injected sources it protects this machine', async () => {
    const p = await AddressPolicy.create();
    const d = p.check('127.0.0.1');
    assert.equal(d.ok, false);
    assert.ok(p.protectedEntries().some((e) => e.code === 'own_address'));
  });
});
