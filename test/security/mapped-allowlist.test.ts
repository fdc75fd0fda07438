// Issue 13.10: allowlist and protect entries written in IPv4-mapped form
// (::ffff:10.0.0.0/104) protected nothing, because bans of IPv4 senders are
// IPv4. And a ban inside the NAT64 prefix 64:ff9b::/96 was widened to its
// /64: every IPv4 host reached through the translator. Against the real
// agent process (dry-run backend, capture on lo; needs root).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRoot } from '../support/netns.js';
import { AGENT_TOKEN, type RealAgent, startRealAgent } from './real-agent.js';

const skip = isRoot() ? false : 'needs root to capture on lo';

describe('IPv4-mapped allowlist/protect entries and NAT64 bans (real agent)', { skip }, () => {
  let agent: RealAgent;
  before(async () => {
    agent = await startRealAgent({ config: { allowlist: ['::ffff:10.0.0.0/104'], protect: ['::ffff:192.0.2.0/120'] } });
  });
  after(() => agent.stop());

  const block = (body: object) =>
    agent.curl(['-X', 'POST', `${agent.url}/v1/blocks`, '-H', `Authorization: Bearer ${AGENT_TOKEN}`, '-H', 'Content-Type: application/json', '-d', JSON.stringify(body)]);

  it('a mapped allowlist entry protects the IPv4 range it names, in either spelling of the address', async () => {
    for (const ip of ['10.1.2.3', '::ffff:10.9.9.9']) {
      const r = await block({ ip, durationSeconds: 60, reason: 'test' });
      assert.equal(r.status, 403, `${ip}: ${r.body}`);
      assert.match(r.body, /allowlisted \(10\.0\.0\.0\/8\)/);
    }
    const outside = await block({ ip: '11.1.2.3', durationSeconds: 60, reason: 'test' });
    assert.equal(outside.status, 201, outside.body);
  });

  it('a mapped protect entry reaches the capture engine as the IPv4 range', () => {
    const started = agent.lines().find((l) => Array.isArray(l.protect));
    assert.ok(started, agent.output());
    assert.ok((started.protect as string[]).includes('192.0.2.0/24'), JSON.stringify(started.protect));
  });

  it('an address in the NAT64 prefix is banned as itself, never as the /64 of all translated IPv4', async () => {
    const one = await block({ ip: '64:ff9b::198.51.100.7', durationSeconds: 60, reason: 'test' });
    assert.equal(one.status, 201, one.body);
    assert.equal((JSON.parse(one.body) as { cidr: string }).cidr, '64:ff9b::c633:6407/128');
    const wide = await block({ cidr: '64:ff9b::/64', durationSeconds: 60, reason: 'test' });
    assert.equal(wide.status, 403, wide.body);
    assert.match(wide.body, /prefix \/64 is broader than the minimum \/112/);
    // An ordinary IPv6 address is still widened to its /64.
    const v6 = await block({ ip: '2001:db8:5::9', durationSeconds: 60, reason: 'test' });
    assert.equal((JSON.parse(v6.body) as { cidr: string }).cidr, '2001:db8:5::/64');
  });
});
