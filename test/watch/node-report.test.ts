// When a node's FloodgateNode report is written (unit tier, mocked clock):
// changes at once (coalesced), a newly held ban spread over the nodes that
// enforce it, so that 1,000 nodes write about reportsPerSecond a second
// together and not all at once, and the heartbeat.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import pino from 'pino';
import type { FloodgateNode, FloodgateNodeStatus } from '../../api/v1alpha1/index.js';
import type { ResourceClient } from '../../kube/resource-client.js';
import { NodeReporter, type NodeIdentitySource } from '../../agent/kube/node-report.js';
import { fanOut } from '../../agent/kube/kube-watch.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';

interface Write {
  at: number;
  node: string;
  status: FloodgateNodeStatus;
}

/** The node's own FloodgateNode as the API server keeps it: the writes that reached it. */
function recordingIdentity(writes: Write[], node: string): NodeIdentitySource {
  const client = {
    patchStatus: async (_ref: unknown, status: FloodgateNodeStatus) => {
      writes.push({ at: Date.now(), node, status });
      return {} as FloodgateNode;
    },
  } as unknown as ResourceClient<FloodgateNode>;
  return { client: async () => client, invalidate: () => undefined };
}

const logger = pino({ level: 'silent' });

/** Move the mocked clock, letting each write's promise chain run. */
async function advance(ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    mock.timers.tick(Math.min(step, ms - t));
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

describe('the node report: when it is written', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  const reporter = (writes: Write[], o: { random?: () => number; heartbeatSeconds?: number; node?: string } = {}) =>
    new NodeReporter({ node: o.node ?? 'n1', identity: recordingIdentity(writes, o.node ?? 'n1'), logger, heartbeatSeconds: 60, ...o });

  it("a ban newly held on 1,000 nodes waits for the node's slot in each 1000/20 s; with 10 nodes it is written at once", async () => {
    const writes: Write[] = [];
    const r = reporter(writes, { random: () => 0.5, heartbeatSeconds: 600 });
    r.start();
    await advance(100);
    assert.equal(writes.length, 1, 'the first report at start');
    await advance(60_000);
    const t0 = Date.now();
    r.progress({ blockEvents: { applied: 1, failed: 0, revision: 10 } }, 1000);
    // Its slot: half-way through each 50 s (1000 / 20) on the clock (random 0.5).
    const slot = (Math.ceil((t0 + 500) / 50_000 - 0.5) + 0.5) * 50_000;
    assert.ok(slot - t0 > 500 && slot - t0 <= 50_000);
    await advance(slot - t0 - 200);
    assert.equal(writes.length, 1, `not written before its slot, ${slot - t0} ms after the ban`);
    await advance(400);
    assert.equal(writes.length, 2, 'written at its slot, within the 50 s spread');
    assert.equal(writes[1]?.status.blockEvents?.revision, 10);

    r.progress({ blockEvents: { applied: 2, failed: 0, revision: 11 } }, 10);
    await advance(600);
    assert.equal(writes.length, 3, '10 nodes: 10/20 s is within the coalescing interval, so at once');
    await r.stop();
  });

  it('a change that is not progress (a refusal) is written at once and carries what waited; the wait then writes nothing more', async () => {
    const writes: Write[] = [];
    const r = reporter(writes, { random: () => 0.9 });
    r.start();
    await advance(1000);
    r.progress({ blockEvents: { applied: 1, failed: 0, revision: 20 } }, 1000);
    await advance(1000);
    assert.equal(writes.length, 1);
    r.update({ failures: [{ kind: 'BlockEvent', namespace: 'shop', name: 'b', message: 'refused: the gateway' }], blockEvents: { applied: 1, failed: 1, revision: 21 } });
    await advance(600);
    assert.equal(writes.length, 2, 'the refusal at once');
    assert.equal(writes[1]?.status.blockEvents?.revision, 21);
    assert.equal(writes[1]?.status.failures?.[0]?.message, 'refused: the gateway');
    await advance(58_000);
    assert.equal(writes.length, 2, 'nothing until the heartbeat');
    await advance(2000);
    assert.equal(writes.length, 3, 'the heartbeat, 60 s after the last write');
    await r.stop();
  });

  it('the spread is at most a heartbeat, however many nodes', async () => {
    const writes: Write[] = [];
    const r = reporter(writes, { random: () => 0.999 });
    r.start();
    await advance(1000);
    r.progress({ blockEvents: { applied: 1, failed: 0, revision: 30 } }, 1_000_000);
    await advance(60_000);
    assert.equal(writes.length, 2);
    await r.stop();
  });

  it('1,000 nodes given bans write about 20 a second together, each at most once in 50 s, however fast the bans come', async () => {
    const writes: Write[] = [];
    const nodes = Array.from({ length: 1000 }, (_, i) => reporter(writes, { heartbeatSeconds: 600, node: `n${i}` }));
    for (const n of nodes) n.start();
    await advance(60_000, 1000);
    assert.equal(writes.length, 1000, 'one report each at start');
    writes.length = 0;
    const t0 = Date.now();
    // A ban every 5 s for 150 s.
    for (let b = 0; b < 30; b++) {
      for (const n of nodes) n.progress({ blockEvents: { applied: 1, failed: 0, revision: 40 + b } }, 1000);
      await advance(5000, 250);
    }
    const buckets = new Array<number>(30).fill(0);
    for (const w of writes) {
      const i = Math.min(29, Math.floor((w.at - t0) / 5000));
      buckets[i] = (buckets[i] ?? 0) + 1;
    }
    // About 100 per 5 s (20 a second): every node writing every ban would put 1,000 in each.
    assert.ok(Math.max(...buckets) < 200, `writes per 5 s: ${buckets.join(', ')}`);
    assert.ok(Math.min(...buckets.slice(0, 10)) > 40, `writes per 5 s: ${buckets.join(', ')}`);
    const last = new Map<string, number>();
    for (const w of writes) {
      const before = last.get(w.node);
      assert.ok(before === undefined || w.at - before >= 50_000, `${w.node} wrote twice within 50 s`);
      last.set(w.node, w.at);
    }
    for (const n of nodes) await n.stop();
  });
});

describe('the spread of a progress report: the nodes that enforce what is newly held', () => {
  const policy = (name: string, enforcingNodes?: number) =>
    ({ metadata: { namespace: 'shop', name }, spec: {}, status: enforcingNodes === undefined ? {} : { enforcingNodes } }) as unknown as DefensePolicy;
  const ban = (name: string, spec: Partial<BlockEvent['spec']>) => ({ metadata: { namespace: 'shop', name }, spec: { ip: '203.0.113.1', ...spec } }) as unknown as BlockEvent;
  const objects = new Map([
    ['shop/wide', ban('wide', { policyRef: { name: 'everywhere' } })],
    ['shop/small', ban('small', { policyRef: { name: 'few' } })],
    ['shop/own', ban('own', { policyRef: { name: 'everywhere' }, agent: 'node/n1' })],
    ['shop/unsaid', ban('unsaid', { policyRef: { name: 'older' } })],
  ]);
  const policies = [policy('everywhere', 1000), policy('few', 3), policy('older')];
  const get = (_kind: string, key: string) => objects.get(key);

  it('the most nodes any of their policies counts (status.enforcingNodes)', () => {
    assert.equal(fanOut(['b h shop/wide id 1 2'], policies, get), 1000);
    assert.equal(fanOut(['b h shop/small id 1 2'], policies, get), 3);
    assert.equal(fanOut(['b h shop/small id 1 2', 'b h shop/wide id 1 2'], policies, get), 1000);
  });
  it('1 for a ban bound to this node, a policy that does not say, or an object no longer there', () => {
    assert.equal(fanOut(['b h shop/own id 1 2'], policies, get), 1, 'its own ban counts on this node only: written at once');
    assert.equal(fanOut(['b h shop/unsaid id 1 2'], policies, get), 1);
    assert.equal(fanOut(['b h shop/gone id 1 2'], policies, get), 1);
  });
});
