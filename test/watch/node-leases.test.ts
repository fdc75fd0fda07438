// The controller's node Lease lister (unit tier, a fake API server): it reads
// every page of a list, matches each Lease to the node whose report names it,
// re-reads only Leases whose resourceVersion moved, ignores a Lease that
// breaks the contract with one log line, and lists while a count waits at a
// pace that grows with the nodes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { NODE_LEASE_ANNOTATIONS, type FloodgateNode } from '../../api/v1alpha1/index.js';
import { NodeLeaseLister } from '../../controller/nodes/node-leases.js';
import { NodeReports, type NodeEntry } from '../../controller/nodes/node-reports.js';
import type { RestClient } from '../../kube/rest-client.js';

const NS = 'floodgate';
const report = (name: string): FloodgateNode =>
  ({
    apiVersion: 'floodgate.dev/v1alpha1',
    kind: 'FloodgateNode',
    metadata: { name },
    spec: { lease: { namespace: NS, name: `floodgate-node-${name}` } },
    status: { policies: ['shop/web'], heartbeatTime: new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z'), heartbeatSeconds: 300, blockEvents: { applied: 0, failed: 0, revision: 10 } },
  }) as FloodgateNode;

interface FakeLease {
  name: string;
  rv: number;
  revision: string;
}

/** A fake API server's Lease collection, served in pages as the real one does (limit, continue). */
function fakeRest(leases: FakeLease[], seen: { pages: number; queries: Record<string, unknown>[] }): RestClient {
  return {
    request: async (r: { path: string; query?: Record<string, unknown> }) => {
      assert.equal(r.path, `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`);
      seen.pages++;
      seen.queries.push(r.query ?? {});
      const limit = Number(r.query?.limit);
      const from = r.query?.continue ? Number(r.query.continue) : 0;
      const page = leases.slice(from, from + limit);
      const next = from + limit < leases.length ? String(from + limit) : undefined;
      return {
        items: page.map((l) => ({
          metadata: { name: l.name, namespace: NS, resourceVersion: String(l.rv), annotations: { [NODE_LEASE_ANNOTATIONS.blockEventsRevision]: l.revision } },
          spec: { holderIdentity: l.name, renewTime: new Date().toISOString().replace('Z', '000Z'), leaseDurationSeconds: 180 },
        })),
        metadata: next ? { continue: next } : {},
      };
    },
  } as unknown as RestClient;
}

describe('the node Lease lister', () => {
  it('reads every page, matches Leases by name to the reports that name them, and re-reads only what moved', async () => {
    const reports = new NodeReports();
    for (let i = 0; i < 250; i++) reports.upsert(report(`n${i}`));
    const leases: FakeLease[] = Array.from({ length: 250 }, (_, i) => ({ name: `floodgate-node-n${i}`, rv: 100 + i, revision: '20' }));
    // A Lease no report names, and one that breaks the contract.
    leases.push({ name: 'floodgate-node-stranger', rv: 1, revision: '99' });
    leases[7] = { name: 'floodgate-node-n7', rv: 107, revision: '20; rm -rf /' };
    const seen = { pages: 0, queries: [] as Record<string, unknown>[] };
    const moved: NodeEntry[] = [];
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const registry = new Registry();
    const lister = new NodeLeaseLister({ rest: fakeRest(leases, seen), namespace: NS, reports, onMoved: (_b, a) => void moved.push(a), waiting: () => false, logger, registry });
    await lister.tick();
    lister.stop();
    assert.equal(seen.pages, 3, 'pages of 100');
    assert.equal(seen.queries[0]?.labelSelector, 'app.kubernetes.io/managed-by=floodgate-controller,app.kubernetes.io/component=node-lease');
    assert.equal(moved.length, 249, 'every node whose Lease is valid moved to revision 20');
    assert.equal(reports.get('n0')?.revisions.BlockEvent, 20);
    assert.equal(reports.get('n249')?.revisions.BlockEvent, 20);
    assert.equal(reports.get('n7')?.revisions.BlockEvent, 10, "a Lease that breaks the contract changes nothing: n7's report stands");
    const refusals = lines.filter((l) => l.includes('does not match the node Lease contract'));
    assert.equal(refusals.length, 1);
    assert.match(refusals[0] ?? '', /floodgate\/floodgate-node-n7/);
    assert.match((await registry.getSingleMetricAsString('floodgate_node_leases')), /floodgate_node_leases 250/);

    // The next list: one Lease moved, the rest did not; the bad one is not logged again.
    moved.length = 0;
    leases[3] = { name: 'floodgate-node-n3', rv: 9999, revision: '30' };
    await lister.tick();
    lister.stop();
    assert.deepEqual(moved.map((e) => e.name), ['n3']);
    assert.equal(reports.get('n3')?.revisions.BlockEvent, 30);
    assert.equal(lines.filter((l) => l.includes('does not match the node Lease contract')).length, 1);
  });

  it('lists while a count waits every 55 ms per node (0.5 to 60 s), otherwise every 60 ms per node (20 to 60 s)', () => {
    const reports = new NodeReports();
    const lister = (n: number) => {
      for (let i = reports.size; i < n; i++) reports.upsert(report(`n${i}`));
      return new NodeLeaseLister({ rest: fakeRest([], { pages: 0, queries: [] }), namespace: NS, reports, onMoved: () => undefined, waiting: () => true, logger: pino({ level: 'silent' }) });
    };
    assert.deepEqual([lister(5).busyMs, lister(5).idleMs], [500, 20_000]);
    assert.deepEqual([lister(10).busyMs, lister(10).idleMs], [550, 20_000]);
    assert.deepEqual([lister(100).busyMs, lister(100).idleMs], [5_500, 20_000]);
    assert.deepEqual([lister(1000).busyMs, lister(1000).idleMs], [55_000, 60_000]);
    assert.deepEqual([lister(5000).busyMs, lister(5000).idleMs], [60_000, 60_000]);
  });
});
