// Issue 13.11: a corrupt bans.json must not start the agent empty and let its
// first reconcile delete every firewall entry mid-attack. The real agent in a
// network namespace with real nftables (flock /tmp/floodgate-heavy.lock):
// bans are made, the agent stops, its store is corrupted, and the restarted
// agent keeps enforcing every ban for the time nft still had left, keeps the
// corrupt file aside and says so loudly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createNetns, type TestNetns } from '../firewall/netns.js';
import { isRoot } from '../support/netns.js';
import { AGENT_TOKEN, startRealAgent } from './real-agent.js';

const skip = isRoot() ? false : 'needs root (network namespace, nftables)';

describe('a corrupt ban store (real agent, real nft)', { skip, timeout: 120_000 }, () => {
  let ns: TestNetns;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fgsec-store-'));
  before(async () => {
    ns = await createNetns('hsecstore');
  });
  after(async () => {
    await ns?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const nftElements = async () => (await ns.sh('nft', 'list', 'table', 'inet', 'floodgate').catch(() => '')).replace(/\s+/g, ' ');

  it('re-imports what nft still holds, with the time it had left; the corrupt file is kept aside and reported', async () => {
    const first = await startRealAgent({ netns: ns.name, dir, config: { backend: 'nft' } });
    const post = (agent: typeof first, body: object) =>
      agent.curl(['-X', 'POST', `${agent.url}/v1/blocks`, '-H', `Authorization: Bearer ${AGENT_TOKEN}`, '-H', 'Content-Type: application/json', '-d', JSON.stringify(body)]);
    let bansBefore: { cidr: string; expiresAt: string }[];
    try {
      assert.equal((await post(first, { ip: '198.51.100.7', durationSeconds: 3600, reason: 'flood' })).status, 201);
      assert.equal((await post(first, { cidr: '203.0.113.0/24', durationSeconds: 600, reason: 'flood' })).status, 201);
      assert.equal((await post(first, { ip: '2001:db8:7::1', durationSeconds: 1800, reason: 'flood' })).status, 201);
      const list = await first.curl(['-H', `Authorization: Bearer ${AGENT_TOKEN}`, `${first.url}/v1/blocks`]);
      bansBefore = (JSON.parse(list.body) as { blocks: { cidr: string; expiresAt: string }[] }).blocks;
    } finally {
      await first.stop();
    }
    assert.equal(bansBefore.length, 3);
    const held = await nftElements();
    for (const e of ['198.51.100.7', '203.0.113.0/24', '2001:db8:7::/64']) assert.ok(held.includes(e), `${e} in nft before: ${held}`);

    // Something (a full disk, a bad sector, a hand edit) leaves bans.json unreadable.
    const store = path.join(dir, 'state', 'bans.json');
    fs.writeFileSync(store, '{"version":1,"bans":[{"cidr":"198.51.1');

    const second = await startRealAgent({ netns: ns.name, dir, config: { backend: 'nft' } });
    try {
      const after = await nftElements();
      for (const e of ['198.51.100.7', '203.0.113.0/24', '2001:db8:7::/64']) assert.ok(after.includes(e), `${e} still in nft: ${after}`);
      const list = JSON.parse((await second.curl(['-H', `Authorization: Bearer ${AGENT_TOKEN}`, `${second.url}/v1/blocks`])).body) as { blocks: { cidr: string; expiresAt: string; policy: string; reason: string }[] };
      assert.deepEqual(list.blocks.map((b) => b.cidr).sort(), bansBefore.map((b) => b.cidr).sort());
      for (const b of list.blocks) {
        const original = Date.parse(bansBefore.find((x) => x.cidr === b.cidr)!.expiresAt);
        // nft keeps whole seconds: the re-imported ban ends when the original would have.
        assert.ok(Math.abs(Date.parse(b.expiresAt) - original) <= 2000, `${b.cidr}: ${b.expiresAt} vs ${new Date(original).toISOString()}`);
        assert.equal(b.policy, 'reimported');
        assert.match(b.reason, /re-imported from the nft firewall: the ban store was unreadable/);
      }
      const aside = fs.readdirSync(path.join(dir, 'state')).filter((f) => f.startsWith('bans.json.corrupt-'));
      assert.equal(aside.length, 1);
      assert.equal(fs.readFileSync(path.join(dir, 'state', aside[0]!), 'utf8'), '{"version":1,"bans":[{"cidr":"198.51.1', 'the corrupt file is kept as it was');
      const loud = second.lines().filter((l) => l.level >= 50 && /re-imported 3 ban\(s\)/.test(l.msg));
      assert.equal(loud.length, 1, second.output());
      // And the store on disk is whole again.
      assert.equal((JSON.parse(fs.readFileSync(store, 'utf8')) as { bans: unknown[] }).bans.length, 3);
    } finally {
      await second.stop();
      await ns.exec(['nft', 'delete', 'table', 'inet', 'floodgate']).catch(() => undefined);
    }
  });
});
