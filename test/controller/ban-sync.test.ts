// The controller's side of the agent ban list and of pushes, against a real
// API server and a real agent API (BanManager, dry-run firewall):
//   - the ban sync reads the agent's whole list once, then only what changed
//     (GET /v1/blocks?since=), records each new ban as a BlockEvent, and
//     keeps bans it could not settle (a tombstoned BlockEvent) to look at again;
//   - the BlockEvent reconciler pushes a ban once, skips the push when its
//     own status write brings the object back unchanged, and pushes again
//     after any other change or after forgetting (new leadership).
//
//   FLOODGATE_CP_BANSYNC_STATE_DIR (default /tmp/floodgate-cp-bansync): its API server's state dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { BanRecord } from '../../api/agent/v1/types.js';
import type { BlockRequest } from '../../agent/bans/ban-service-port.js';
import { BanChangeFeed } from '../../agent/bans/ban-changes.js';
import { ManagerBanService } from '../../agent/bans/ban-service.js';
import { DryRunBackend } from '../../agent/firewall/dry-run-backend.js';
import { AgentResolver } from '../../controller/agents/agent-resolver.js';
import { BLOCK_EVENT, DEFENSE_POLICY, UNBLOCK_FINALIZER, type BlockEvent, type DefensePolicy } from '../../api/v1alpha1/index.js';
import { EventRecorder } from '../../kube/event-recorder.js';
import { Informer } from '../../kube/informer.js';
import { CoreClient } from '../../kube/kube-apis.js';
import { loadKubeConfig } from '../../kube/kube-config.js';
import { RestClient } from '../../kube/rest-client.js';
import { AgentBanSync } from '../../controller/reconcile/agent-ban-sync.js';
import { BlockEventReconciler } from '../../controller/reconcile/block-event-reconciler.js';
import { blockEventName, newBlockEvent } from '../../controller/reconcile/block-event-names.js';
import { ResourceClient } from '../../kube/resource-client.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { startTestApi, TOKEN, type TestApi } from '../api/helpers.js';
import { makeManager, tempStateDir } from '../bans/setup.js';
import { eventually, kubectl, startApiServerWithCrds, stopApiServer } from './e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_CP_BANSYNC_STATE_DIR || '/tmp/floodgate-cp-bansync';
const NS = `fgbs-${Date.now().toString(36)}`;
const logger = pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' });

describe('agent ban sync and pushes (real API server, real agent API)', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let state: { dir: string; cleanup(): Promise<void> };
  let api: TestApi;
  let service: ManagerBanService;
  let rest: RestClient;
  let blockEvents: ResourceClient<BlockEvent>;
  let informer: Informer<BlockEvent>;
  let policy: DefensePolicy;
  let resolver: AgentResolver;
  const pushes: BlockRequest[] = [];

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    state = await tempStateDir();
    const { manager, store } = await makeManager(new DryRunBackend(), state.dir);
    await manager.start({ timers: false });
    service = new ManagerBanService(manager, 'dry-run');
    // Count the pushes that reach the real service.
    const block = service.block.bind(service);
    service.block = (req) => {
      pushes.push(req);
      return block(req);
    };
    api = await startTestApi({ bans: service, banChanges: new BanChangeFeed(store, 'dry-run') });

    const k = async (args: string[], input?: string) => {
      const r = await kubectl(cp.kubeconfig, args, input);
      if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    };
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${TOKEN}`]);
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'floodgate.dev/agent-token=true']);
    await k(
      ['apply', '-f', '-'],
      `apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: sync, namespace: ${NS}}
spec:
  mitigation: {banDurationSeconds: 600}
  agents:
  - url: ${api.url}
    tokenSecretRef: {name: agent-token, key: token}
`,
    );
    rest = new RestClient(loadKubeConfig({ kubeconfig: cp.kubeconfig }));
    blockEvents = new ResourceClient<BlockEvent>(rest, BLOCK_EVENT);
    policy = await new ResourceClient<DefensePolicy>(rest, DEFENSE_POLICY).get({ namespace: NS, name: 'sync' });
    resolver = new AgentResolver(new CoreClient(rest), { urlAllowlist: ['http://127.0.0.1:*'], secretNamespaces: ['@policy'] });
    informer = new Informer<BlockEvent>({ name: 'blockevents', rest, list: (o) => blockEvents.list(NS, { limit: o.limit, continue: o._continue }) as never, watchPath: `/apis/floodgate.dev/v1alpha1/namespaces/${NS}/blockevents`, logger });
    informer.start();
    await informer.waitForSync(30_000);
  });

  after(async () => {
    await informer?.stop();
    rest?.close();
    await api?.close();
    await state?.cleanup();
    if (cp) await stopApiServer(STATE_DIR);
  });

  // The sync records bans as BlockEvents (spec and annotations); their status is the reconciler's.
  const recorded = (ip: string) => informer.get(blockEventName('sync', ip), NS)?.metadata.annotations?.['floodgate.dev/ban-start'] !== undefined;

  it('reads the whole list once, then only changes; keeps a tombstoned ban until its tombstone is gone', async () => {
    let now = Date.now();
    const sync = new AgentBanSync({ blockEvents, getBlockEvent: (ns, n) => informer.get(n, ns), listPolicies: () => [policy], resolver, logger, fullResyncMs: 3_600_000, now: () => now });
    const own = (ip: string) => service.block({ cidr: ip, durationSeconds: 600, reason: 'auto-defense test', source: 'api' });
    await own('203.0.113.10');
    await own('203.0.113.11');
    assert.equal(await sync.syncPolicy(policy), 2);
    assert.deepEqual(sync.reads, { full: 1, incremental: 0 });
    await eventually('both BlockEvents recorded', async () => recorded('203.0.113.10') && recorded('203.0.113.11'));

    assert.equal(await sync.syncPolicy(policy), 0, 'nothing changed: nothing recorded');
    assert.deepEqual(sync.reads, { full: 1, incremental: 1 });

    await own('203.0.113.12');
    assert.equal(await sync.syncPolicy(policy), 1, 'the one new ban, from an incremental read');
    assert.deepEqual(sync.reads, { full: 1, incremental: 2 });
    await eventually('the new BlockEvent recorded', async () => recorded('203.0.113.12'));

    // A user just deleted the BlockEvent of 203.0.113.13 (its unblock is on the way): not re-created while tombstoned...
    await own('203.0.113.13');
    sync.noteDeleted({ metadata: { namespace: NS, name: blockEventName('sync', '203.0.113.13') } } as BlockEvent);
    assert.equal(await sync.syncPolicy(policy), 0);
    // ...and recorded once the tombstone is gone, although the agent reports no change any more.
    now += 61_000;
    sync.start();
    try {
      await eventually('the formerly tombstoned ban recorded', async () => recorded('203.0.113.13'));
    } finally {
      sync.stop();
    }
    assert.equal(sync.reads.full, 1, 'never read in full again');
  });

  it('pushes a ban once, skips the push its own status write would repeat, and pushes after any other change', async () => {
    const events = new EventRecorder({ core: new CoreClient(rest), component: 'test', logger });
    const rec = new BlockEventReconciler({
      blockEvents,
      getBlockEvent: (key) => informer.getByKey(key),
      getPolicy: (ns, name) => (ns === NS && name === 'sync' ? policy : undefined),
      resolver,
      events,
      logger,
      retentionMs: 60_000,
    });
    const ip = '198.51.100.20';
    const name = blockEventName('sync', ip);
    const key = `${NS}/${name}`;
    const rv = () => informer.getByKey(key)?.metadata.resourceVersion;
    const pushesOf = () => pushes.filter((p) => p.cidr === ip).length;
    const reconcileAfterChange = async (before: string | undefined) => {
      await eventually('the informer sees the change', async () => rv() !== before);
      return rec.reconcile(key);
    };

    await blockEvents.create(NS, newBlockEvent(policy, name, { ip, durationSeconds: 600, reason: 'test' }, { offences: 1 }));
    await eventually('the BlockEvent cached', async () => rv() !== undefined);
    let seen = rv();
    await rec.reconcile(key); // adds the finalizer
    await reconcileAfterChange(seen); // pushes, writes status Active
    seen = rv();
    assert.deepEqual(informer.getByKey(key)?.metadata.finalizers, [UNBLOCK_FINALIZER]);
    assert.equal(pushesOf(), 1);
    await eventually('status Active cached', async () => informer.getByKey(key)?.status?.phase === 'Active');
    const r = await rec.reconcile(key); // its own status write, back again
    assert.equal(pushesOf(), 1, 'no second push for our own status write');
    assert.equal(rec.skippedPushes, 1);
    assert.ok(r && typeof r.requeueAfterMs === 'number' && r.requeueAfterMs > 0, 'still requeued for its expiry');

    seen = rv();
    await blockEvents.patch({ namespace: NS, name }, { spec: { reason: 'changed by a user' } });
    await reconcileAfterChange(seen);
    assert.equal(pushesOf(), 2, 'a spec change pushes again');

    await eventually('the status write cached', async () => informer.getByKey(key)?.status?.observedGeneration === informer.getByKey(key)?.metadata.generation);
    rec.forgetPushes();
    await rec.reconcile(key);
    assert.equal(pushesOf(), 3, 'after forgetting (new leadership) it pushes again');
    const held: BanRecord[] = service.list().filter((b) => b.cidr === `${ip}/32`);
    assert.equal(held.length, 1, 'the agent holds the ban once');
    await events.flush();
  });
});
