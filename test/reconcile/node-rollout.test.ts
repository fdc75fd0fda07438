// The BlockEvent reconciler with nodes whose agents watch the API server
// (docs/fanout.md): it counts their FloodgateNode reports instead of pushing,
// and writes status.nodes; unit tier, with the fakes and the clock of the
// other reconcile tests and a real NodeReports index.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rolloutDigest, rolloutOf } from '../../controller/nodes/node-rollout.js';
import type { BlockEvent, FloodgateNode, FloodgateNodeStatus } from '../../api/v1alpha1/index.js';
import { policy as makePolicy, rfc3339 } from './fakes.js';
import { Harness, NS } from './harness.js';

/** BlockEvents of a selector policy, whose agents watch the API server. */
class NodesHarness extends Harness {
  constructor() {
    super({ selectorAgentsWatch: true });
    const p = makePolicy('web', ['http://unused:1'], {}, NS);
    this.policies.set(`${NS}/web`, { ...p, spec: { ...p.spec, agents: undefined, agentSelector: { matchLabels: { app: 'agent' } } } });
  }

  /** A node's report as its agent writes it. */
  report(name: string, status: Partial<FloodgateNodeStatus>): void {
    const node = {
      apiVersion: 'floodgate.dev/v1alpha1',
      kind: 'FloodgateNode',
      metadata: { name },
      spec: {},
      status: { agent: { version: '0', backend: 'dry-run', mode: 'in-cluster' }, policies: [`${NS}/web`], heartbeatTime: rfc3339(this.clock.now()), heartbeatSeconds: 10, ...status },
    } as FloodgateNode;
    this.reports.upsert(node);
  }

  async create(name: string, ip: string, extra: { agent?: string } = {}): Promise<BlockEvent> {
    return this.apply({ name, ip, durationSeconds: 600, policy: 'web', ...extra });
  }
}

const rev = (be: BlockEvent) => Number(be.status?.nodes?.revision);

describe('BlockEvents on nodes that watch the API server (counted from their reports)', () => {
  it('Pending while the nodes apply it, Active once one holds it, applied on 2/2 when both do; never pushed', async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 1  }});
    h.report('n2', { blockEvents: { applied: 0, failed: 0, revision: 1  }});
    let be = await h.create('a', '203.0.113.1');
    assert.equal(be.status?.phase, 'Pending');
    assert.deepEqual({ desired: be.status?.nodes?.desired, applied: be.status?.nodes?.applied }, { desired: 2, applied: 0 });
    assert.match(be.status?.message ?? '', /applied on 0\/2 nodes; 2 yet to report \(n1, n2\)/);
    const revision = rev(be);
    assert.ok(revision > 0, 'the revision of the ban is recorded');

    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: revision  }});
    await h.settle();
    be = h.be('a')!;
    assert.equal(be.status?.phase, 'Active');
    assert.equal(be.status?.nodes?.summary, '1/2');
    h.report('n2', { blockEvents: { applied: 0, failed: 0, revision: revision + 5 } });
    await h.settle();
    be = h.be('a')!;
    assert.equal(be.status?.nodes?.summary, '2/2');
    assert.match(be.status?.message ?? '', /^applied on 2\/2 nodes$/);
    assert.equal(rev(be), revision, 'its own status writes do not move the revision');
    assert.equal(h.agents.byUrl.size, 0, 'no agent was called');
  });

  it("a node that applied it as it was created counts, although the controller's finalizer write came after", async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 1  }});
    const created = await h.objects.create(NS, { apiVersion: 'floodgate.dev/v1alpha1', kind: 'BlockEvent', metadata: { name: 'a', namespace: NS }, spec: { ip: '203.0.113.1', durationSeconds: 600, policyRef: { name: 'web' } } } as BlockEvent);
    // The node's watch saw the creation and applied it.
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: Number(created.metadata.resourceVersion)  }});
    await h.settle();
    const be = h.be('a')!;
    assert.ok(Number(be.metadata.resourceVersion) > Number(created.metadata.resourceVersion), 'the finalizer and status writes came after');
    assert.equal(be.status?.nodes?.summary, '1/1');
    assert.equal(rev(be), Number(created.metadata.resourceVersion));
  });

  it('an unchanged object is not written again (the API server returns keys sorted)', async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 10_000  }});
    await h.create('a', '203.0.113.1');
    const writes = h.objects.writes.length;
    await h.reconciler.reconcile(`${NS}/a`);
    await h.reconciler.reconcile(`${NS}/a`);
    assert.equal(h.objects.writes.length, writes);
  });

  it('a node that refused it, and one that stopped reporting, are said apart from the ones that hold it', async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 10_000  }});
    h.report('n2', { blockEvents: { applied: 0, failed: 0, revision: 10_000 }, failures: [{ kind: 'BlockEvent', namespace: NS, name: 'a', message: 'never_block: the gateway' }] });
    h.report('n3', { blockEvents: { applied: 0, failed: 0, revision: 10_000 }, heartbeatTime: rfc3339(h.clock.now() - 60_000) });
    const be = await h.create('a', '203.0.113.1');
    assert.equal(be.status?.phase, 'Active');
    assert.deepEqual(
      { applied: be.status?.nodes?.applied, failed: be.status?.nodes?.failed, silent: be.status?.nodes?.notReporting, desired: be.status?.nodes?.desired },
      { applied: 1, failed: 1, silent: 1, desired: 3 },
    );
    assert.match(be.status?.message ?? '', /1 refused \(n2: never_block: the gateway\)/);
    assert.match(be.status?.message ?? '', /1 not reporting \(n3\)/);
  });

  it('Failed when every reporting node refused it', async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 10_000 }, failures: [{ kind: 'BlockEvent', namespace: NS, name: 'a', message: 'never_block' }] });
    const be = await h.create('a', '203.0.113.1');
    assert.equal(be.status?.phase, 'Failed');
    assert.ok(h.events.reasons().includes('Warning BlockRefused'));
  });

  it('a deletion waits for no node: the nodes lift it themselves when they see it, or when they list again', async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 1  }});
    const created = await h.create('a', '203.0.113.1');
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: rev(created)  }});
    await h.settle();
    assert.equal(h.be('a')!.status?.phase, 'Active');
    await h.objects.delete({ namespace: NS, name: 'a' });
    await h.settle();
    assert.equal(h.be('a'), undefined, 'the finalizer went at once');
    assert.equal(h.agents.byUrl.size, 0, 'no agent was called');
  });

  it('an own ban bound to its node (spec.agent node/<name>) is counted on that node only', async () => {
    const h = new NodesHarness();
    h.report('n1', { blockEvents: { applied: 0, failed: 0, revision: 10_000  }});
    h.report('n2', { blockEvents: { applied: 0, failed: 0, revision: 10_000  }});
    const be = await h.create('own', '198.51.100.7', { agent: 'node/n2' });
    assert.equal(be.status?.nodes?.summary, '1/1');
  });

  it('the revision stays while what the nodes hold is the same, and moves when it changes', () => {
    const content = { what: '203.0.113.1', start: 1000, end: 601_000, deleting: false, policy: 'web' };
    const digest = rolloutDigest(content);
    assert.deepEqual(rolloutOf({ revision: 40, digest }, digest, '55'), { revision: 40, digest });
    const longer = rolloutDigest({ ...content, end: 1_201_000 });
    assert.notEqual(longer, digest);
    assert.equal(rolloutOf({ revision: 40, digest }, longer, '55').revision, 55);
    assert.equal(rolloutOf(undefined, digest, 'not-a-number').revision, Number.MAX_SAFE_INTEGER, 'a resourceVersion that cannot be compared counts no node');
  });
});
