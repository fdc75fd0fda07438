// When a node's FloodgateNode report is written (unit tier, mocked clock):
// changes at once (coalesced), a newly held ban spread over the nodes that
// enforce it, so that 1,000 nodes write about reportsPerSecond a second
// together and not all at once, and the heartbeat. With a node Lease:
// heartbeats and progress renew the Lease, the report is written on changes
// and every 30 heartbeats, and a Lease the node may not write sends everything
// back to the report.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import pino from 'pino';
import type { FloodgateNode, FloodgateNodeStatus } from '../../api/v1alpha1/index.js';
import type { ResourceClient } from '../../kube/resource-client.js';
import { NodeReporter, REPORT_EVERY_HEARTBEATS, type NodeIdentitySource } from '../../agent/kube/node-report.js';
import { fanOut } from '../../agent/kube/kube-watch.js';
import { NODE_LEASE_ANNOTATIONS, floodgateNodeStatusSchema, type nodeLeasePatch } from '../../api/v1alpha1/index.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';

interface Write {
  at: number;
  node: string;
  status: FloodgateNodeStatus;
}

interface LeaseWrite {
  at: number;
  path: string;
  body: ReturnType<typeof nodeLeasePatch>;
}

/**
 * The node's own FloodgateNode as the API server keeps it: the writes that
 * reached it; with `lease`, its spec names a Lease, whose patches are recorded
 * (or answered with `leaseStatus`).
 */
function recordingIdentity(writes: Write[], node: string, o: { leaseWrites?: LeaseWrite[]; leaseStatus?: number } = {}): NodeIdentitySource {
  const client = {
    get: async () => ({ metadata: { name: node }, spec: o.leaseWrites ? { lease: { namespace: 'floodgate', name: `floodgate-node-${node}` } } : {} }),
    patchStatus: async (_ref: unknown, status: FloodgateNodeStatus) => {
      writes.push({ at: Date.now(), node, status });
      return {} as FloodgateNode;
    },
    api: {
      rest: {
        request: async (r: { method?: string; path: string; body: LeaseWrite['body'] }) => {
          if (o.leaseStatus) throw Object.assign(new Error(`HTTP ${o.leaseStatus}`), { statusCode: o.leaseStatus });
          o.leaseWrites?.push({ at: Date.now(), path: `${r.method} ${r.path}`, body: r.body });
          return {};
        },
      },
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

describe('the node report beside a node Lease', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  const reporter = (writes: Write[], o: { leaseWrites?: LeaseWrite[]; leaseStatus?: number; random?: () => number } = {}) =>
    new NodeReporter({ node: 'n1', identity: recordingIdentity(writes, 'n1', o), logger, heartbeatSeconds: 60, random: o.random ?? (() => 0.5) });

  it('heartbeats and progress renew the Lease; the report is written at start, on a change and every 30 heartbeats', async () => {
    const writes: Write[] = [];
    const leaseWrites: LeaseWrite[] = [];
    const r = reporter(writes, { leaseWrites });
    r.start();
    await advance(100);
    assert.equal(writes.length, 1, 'the report at start');
    assert.equal(writes[0]?.status.heartbeatSeconds, 1800, 'it says it is written every 30 heartbeats');
    assert.equal(leaseWrites.length, 0);

    await advance(60_000);
    assert.equal(leaseWrites.length, 1, 'the heartbeat renews the Lease');
    assert.equal(writes.length, 1, 'and not the report');
    assert.equal(leaseWrites[0]?.path, 'PATCH /apis/coordination.k8s.io/v1/namespaces/floodgate/leases/floodgate-node-n1');
    assert.equal(leaseWrites[0]?.body.spec.leaseDurationSeconds, 180, 'a renewal counts for 3 heartbeats');
    assert.match(leaseWrites[0]?.body.spec.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'a MicroTime');

    r.progress({ blockEvents: { applied: 3, failed: 0, revision: 77 } }, 10);
    await advance(600);
    assert.equal(leaseWrites.length, 2, 'something newly held renews the Lease with the revision');
    assert.equal(writes.length, 1);
    assert.equal(leaseWrites[1]?.body.metadata.annotations[NODE_LEASE_ANNOTATIONS.blockEventsRevision], '77');
    assert.equal(leaseWrites[1]?.body.metadata.annotations[NODE_LEASE_ANNOTATIONS.blockEventsApplied], '3');

    r.update({ failures: [{ kind: 'BlockEvent', namespace: 'shop', name: 'b', message: 'refused: the gateway' }], blockEvents: { applied: 3, failed: 1, revision: 78 } });
    await advance(600);
    assert.equal(writes.length, 2, 'a refusal goes in the report, at once');
    assert.equal(writes[1]?.status.blockEvents?.revision, 78);

    // Idle: the heartbeats renew the Lease; 30 heartbeats later the report is written again.
    const leasesBefore = leaseWrites.length;
    await advance(26 * 60_000);
    assert.equal(writes.length, 2, `no report for 26 heartbeats (${writes.map((w) => w.at - 1_000_000).join(', ')})`);
    await advance(4 * 60_000);
    assert.equal(writes.length, 3, `the report again within 30 heartbeats (${writes.map((w) => w.at - 1_000_000).join(', ')})`);
    assert.ok(leaseWrites.length - leasesBefore >= 25, `the other heartbeats renew the Lease (${leaseWrites.length - leasesBefore})`);
    await r.stop();
  });

  it('with long heartbeats the report is still written every 5 hours, which is what its schema allows it to say', async () => {
    const writes: Write[] = [];
    const r = new NodeReporter({ node: 'n1', identity: recordingIdentity(writes, 'n1', { leaseWrites: [] }), logger, heartbeatSeconds: 3600, random: () => 0.5 });
    r.start();
    await advance(100);
    assert.equal(writes[0]?.status.heartbeatSeconds, 18_000, '30 heartbeats of an hour would be 30 hours');
    assert.ok(floodgateNodeStatusSchema.safeParse(writes[0]?.status).success, 'the report passes its own schema');
    await advance(5 * 3600_000, 60_000);
    assert.equal(writes.length, 2, `the report again within 5 hours (${writes.map((w) => w.at - 1_000_000).join(', ')})`);
    await r.stop();
  });

  it('a Lease the node may not write (403) or that is gone (404): everything goes in the report, as without a Lease', async () => {
    for (const leaseStatus of [403, 404]) {
      const writes: Write[] = [];
      const r = reporter(writes, { leaseWrites: [], leaseStatus });
      r.start();
      await advance(100);
      await advance(120_000);
      assert.equal(writes.length, 3, `${leaseStatus}: the start and two heartbeats in the report`);
      assert.equal(writes[2]?.status.heartbeatSeconds, 60, `${leaseStatus}: the report's own heartbeat again`);
      await r.stop();
    }
  });

  it('1,000 nodes started together spread their reports over the 30 heartbeats from the start', async () => {
    const writes: Write[] = [];
    const nodes = Array.from({ length: 1000 }, (_, i) => new NodeReporter({ node: `n${i}`, identity: recordingIdentity(writes, `n${i}`, { leaseWrites: [] }), logger, heartbeatSeconds: 60 }));
    for (const n of nodes) n.start();
    await advance(1000, 500);
    // An agent's start writes twice: listed, then synced.
    for (const n of nodes) n.synced('True', 'Resynced', 'listed');
    await advance(1000, 500);
    assert.equal(writes.length, 2000, 'two reports each at start');
    writes.length = 0;
    const t0 = Date.now();
    await advance(REPORT_EVERY_HEARTBEATS * 60_000, 2000);
    const perHeartbeat = new Array<number>(REPORT_EVERY_HEARTBEATS).fill(0);
    for (const w of writes) perHeartbeat[Math.min(REPORT_EVERY_HEARTBEATS - 1, Math.floor((w.at - t0) / 60_000))]! += 1;
    // Without the random first wait all 1,000 would come together after 30 heartbeats.
    assert.ok(writes.length >= 900 && writes.length <= 1100, `reports in 30 heartbeats: ${writes.length}`);
    assert.ok(Math.max(...perHeartbeat) < 100, `reports per heartbeat: ${perHeartbeat.join(', ')}`);
    for (const n of nodes) await n.stop();
  });

  it('no Lease named (an older controller): the report only, every heartbeat', async () => {
    const writes: Write[] = [];
    const r = reporter(writes);
    r.start();
    await advance(100);
    await advance(120_000);
    assert.equal(writes.length, 3);
    assert.equal(writes[2]?.status.heartbeatSeconds, 60);
    await r.stop();
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
