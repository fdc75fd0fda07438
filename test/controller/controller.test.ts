// The operator end to end against a real kube-apiserver and a real agent:
// policy readiness, an attack turned into a BlockEvent, unblock on delete,
// expiry, restart without loss or duplicates, unreachable/unauthorized agents,
// leader election between two replicas, and an API server restart mid-watch.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pino from 'pino';
import { restartApiServer, type ControlPlane } from '../control-plane/control-plane.js';
import { startController, type RunningController } from '../../controller/controller.js';
import type { BlockEvent, DefensePolicy } from '../../api/v1alpha1/index.js';
import { isRoot } from '../support/netns.js';
import {
  createAttackerLink,
  e2eControllerOptions,
  eventually,
  kubectl,
  ownMemoryCgroup,
  startAgent,
  startApiServerWithCrds,
  stopApiServer,
  STATE_DIR,
  type AttackerLink,
  type RunningAgent,
} from './e2e-env.js';

const NS = 'floodgate-e2e';

/** This process's v1 memory cgroup: pods' cgroups for the memory trigger are made below it. */
const CGROUP_ROOT = ownMemoryCgroup();
const skip = isRoot() ? false : 'needs root (network namespaces, capture)';

describe('controller end to end', { skip, timeout: 400_000 }, () => {
  let cp: ControlPlane;
  let link: AttackerLink;
  let agent: RunningAgent;
  const controllers: RunningController[] = [];
  const quiet = pino({ level: process.env.FLOODGATE_TEST_LOG ?? 'silent' });

  const k = (args: string[], input?: string) => kubectl(cp.kubeconfig, args, input);
  const getJson = async <T,>(args: string[]): Promise<T> => JSON.parse((await k([...args, '-o', 'json'])).stdout) as T;
  const policy = (name: string) => getJson<DefensePolicy>(['-n', NS, 'get', 'dp', name]);
  const blockEvents = async () => (await getJson<{ items: BlockEvent[] }>(['-n', NS, 'get', 'be'])).items;
  const cond = (p: DefensePolicy, type: string) => p.status?.conditions?.find((c) => c.type === type);

  const startCtl = async (identity: string) => {
    const c = await startController(e2eControllerOptions(cp.kubeconfig, NS, { identity, logger: quiet }));
    controllers.push(c);
    return c;
  };
  const stopCtl = async (c: RunningController) => {
    await c.stop();
    controllers.splice(controllers.indexOf(c), 1);
  };

  const applyPolicy = (name: string, agentUrl: string, secret = 'agent-token', extra = '') =>
    k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: ${name}, namespace: ${NS}}
spec:
  detection: {windowSeconds: 2}
  mitigation: {banDurationSeconds: 120}
  agents:
  - url: ${agentUrl}
    tokenSecretRef: {name: ${secret}, key: token}
${extra}`);

  before(async () => {
    cp = await startApiServerWithCrds();
    link = await createAttackerLink();
    agent = await startAgent(link.hostDev, 24000 + (process.pid % 1000));
    await k(['create', 'namespace', NS]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'agent-token', `--from-literal=token=${agent.token}`]);
    await k(['-n', NS, 'create', 'secret', 'generic', 'wrong-token', '--from-literal=token=definitely-not-the-token']);
    // The controller uses a Secret as an agent token only with this label.
    await k(['-n', NS, 'label', 'secret', 'agent-token', 'wrong-token', 'floodgate.dev/agent-token=true']);
    await startCtl('ctl-a');
  });

  after(async () => {
    for (const c of [...controllers]) await c.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await link?.destroy().catch(() => undefined);
    if (cp) await stopApiServer();
  });

  it('a policy becomes Ready with reachable agents and observedGeneration', async () => {
    assert.equal((await applyPolicy('web', agent.url)).exitCode, 0);
    const p = await eventually('Ready=True', async () => {
      const p = await policy('web');
      return cond(p, 'Ready')?.status === 'True' && cond(p, 'AgentsReachable')?.status === 'True' ? p : undefined;
    });
    assert.equal(p.status?.observedGeneration, p.metadata.generation);
    const table = (await k(['-n', NS, 'get', 'dp'])).stdout;
    assert.match(table.split('\n')[0]!, /READY\s+UNDER ATTACK\s+ACTIVE BLOCKS\s+SIGNATURE RULES\s+WINDOW\s+SHARE\s+AGE/);
    assert.match(table, /web\s+True\s+/);
  });

  it('a triggered attack creates a BlockEvent that turns Active and shows under kubectl get be', async () => {
    const flood = link.flood(6);
    await new Promise((r) => setTimeout(r, 2500)); // a full 2 s window of flood
    await k(['-n', NS, 'annotate', 'dp', 'web', `floodgate.dev/trigger=${Date.now()}`, '--overwrite']);
    const be = await eventually('an Active BlockEvent for the attacker', async () => {
      const items = await blockEvents();
      return items.find((b) => b.spec.ip === link.attackerIp && b.status?.phase === 'Active');
    }, 30_000);
    await flood;
    assert.equal(be.spec.policyRef?.name, 'web');
    assert.equal(be.metadata.ownerReferences?.[0]?.kind, 'DefensePolicy');
    assert.equal(be.metadata.ownerReferences?.[0]?.controller, true);
    assert.ok(be.metadata.finalizers?.includes('floodgate.dev/unblock'));
    assert.equal(be.status?.backend, 'dry-run');
    assert.ok(be.spec.evidence?.pps && be.spec.evidence.pps > 1000, `evidence ${JSON.stringify(be.spec.evidence)}`);
    const table = (await k(['-n', NS, 'get', 'be'])).stdout;
    assert.match(table.split('\n')[0]!, /IP\s+POLICY\s+PHASE\s+REASON\s+EXPIRES\s+NODES\s+AGE/);
    assert.match(table, new RegExp(`${link.attackerIp.replace(/\./g, '\\.')}\\s+web\\s+Active`));
    const onAgent = await agent.api<{ blocks: { cidr: string }[] }>('GET', '/v1/blocks');
    assert.ok(onAgent.blocks.some((b) => b.cidr === `${link.attackerIp}/32`), 'the agent holds the ban');
    const p = await eventually('UnderAttack and activeBlocks', async () => {
      const p = await policy('web');
      return p.status?.activeBlocks === 1 && p.status.lastAnalysis?.underAttack ? p : undefined;
    });
    assert.equal(p.status?.lastTrigger?.reason, 'manual');
    const events = (await k(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=web'])).stdout;
    assert.match(events, /AttackDetected/);
    assert.match(events, /\d+ new attacker\(s\)/);
    assert.match(events, /Blocked/);
  });

  it('restarting the controller loses nothing and duplicates nothing', async () => {
    const before = (await blockEvents()).map((b) => `${b.metadata.name}:${b.status?.phase}:${b.status?.expiresAt}`).sort();
    await stopCtl(controllers[0]!);
    await startCtl('ctl-b');
    await new Promise((r) => setTimeout(r, 6000));
    const afterRestart = (await blockEvents()).map((b) => `${b.metadata.name}:${b.status?.phase}:${b.status?.expiresAt}`).sort();
    assert.deepEqual(afterRestart, before);
    const onAgent = await agent.api<{ blocks: { cidr: string }[] }>('GET', '/v1/blocks');
    assert.equal(onAgent.blocks.length, 1);
  });

  it('deleting a BlockEvent unblocks it on the agent through the finalizer', async () => {
    const be = (await blockEvents()).find((b) => b.spec.ip === link.attackerIp)!;
    assert.equal((await k(['-n', NS, 'delete', 'be', be.metadata.name!, '--timeout=30s'])).exitCode, 0);
    await eventually('the agent unblocked', async () => {
      const r = await agent.api<{ blocks: unknown[] }>('GET', '/v1/blocks');
      return r.blocks.length === 0;
    });
    assert.equal((await blockEvents()).length, 0);
  });

  it('a hand-made BlockEvent blocks, then turns Expired on time', async () => {
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: manual-ban, namespace: ${NS}}
spec: {ip: 198.51.100.77, policyRef: {name: web}, durationSeconds: 4, reason: by hand}`);
    await eventually('Active', async () => (await blockEvents()).find((b) => b.metadata.name === 'manual-ban' && b.status?.phase === 'Active'));
    const onAgent = await agent.api<{ blocks: { cidr: string }[] }>('GET', '/v1/blocks');
    assert.ok(onAgent.blocks.some((b) => b.cidr === '198.51.100.77/32'));
    const t0 = Date.now();
    await eventually('Expired', async () => (await blockEvents()).find((b) => b.metadata.name === 'manual-ban' && b.status?.phase === 'Expired'), 15_000);
    assert.ok(Date.now() - t0 < 10_000, 'expired within a few seconds of its 4 s duration');
  });

  it('an unreachable or unauthorized agent is reflected in conditions', async () => {
    await applyPolicy('down', 'http://127.0.0.1:9');
    await applyPolicy('badtoken', agent.url, 'wrong-token');
    const down = await eventually('AgentsReachable=False', async () => {
      const p = await policy('down');
      return cond(p, 'AgentsReachable')?.status === 'False' ? p : undefined;
    });
    assert.equal(cond(down, 'AgentsReachable')?.reason, 'AgentUnreachable');
    assert.match(cond(down, 'AgentsReachable')!.message, /127\.0\.0\.1:9/);
    const bad = await eventually('AgentUnauthorized', async () => {
      const p = await policy('badtoken');
      return cond(p, 'AgentsReachable')?.reason === 'AgentUnauthorized' ? p : undefined;
    });
    assert.equal(cond(bad, 'Ready')?.status, 'True', 'the policy itself is valid');
    await k(['-n', NS, 'delete', 'dp', 'down', 'badtoken']);
  });

  it('two replicas elect exactly one leader, and the other takes over within the lease time', async () => {
    const second = await startCtl('ctl-c');
    await new Promise((r) => setTimeout(r, 3000));
    const leaders = controllers.filter((c) => c.isLeader());
    assert.equal(leaders.length, 1, 'exactly one leader');
    const leader = leaders[0]!;
    const follower = controllers.find((c) => c !== leader)!;
    const t0 = Date.now();
    await stopCtl(leader); // releases the lease
    await eventually('failover', async () => follower.isLeader(), 8000, 100);
    assert.ok(Date.now() - t0 < 4000 + 1000, 'within the 4 s lease');
    void second;
  });

  it('pod memory above the threshold triggers a defense (cgroup source, real v1 cgroup)', { skip: CGROUP_ROOT ? false : 'no cgroup v1 memory hierarchy' }, async () => {
    await k(['apply', '-f', '-'], `
apiVersion: v1
kind: Pod
metadata: {name: shop-web-0, namespace: ${NS}, labels: {app: shop-web}}
spec: {containers: [{name: web, image: registry.invalid/web:1}]}`);
    const pod = await getJson<{ metadata: { uid: string }; status: { qosClass: string } }>(['-n', NS, 'get', 'pod', 'shop-web-0']);
    assert.equal(pod.status.qosClass, 'BestEffort');
    // Where the kubelet's cgroupfs driver would put this pod, under our own cgroup.
    const podDir = path.join(CGROUP_ROOT!, 'kubepods', 'besteffort', `pod${pod.metadata.uid}`);
    fs.mkdirSync(podDir, { recursive: true });
    fs.writeFileSync(path.join(podDir, 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    let hog: ResultPromise | undefined;
    try {
      hog = execa('sh', ['-c', `echo $$ > ${podDir}/cgroup.procs && exec ${process.execPath} -e "const b=Buffer.alloc(44*1024*1024,1); console.log('ready'); setInterval(()=>b[0]++,1000)"`], { reject: false });
      await new Promise<void>((resolve) => hog!.stdout!.once('data', () => resolve()));
      await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: DefensePolicy
metadata: {name: memory, namespace: ${NS}}
spec:
  targetSelector: {matchLabels: {app: shop-web}}
  trigger: {memoryThresholdPercent: 50, pollIntervalSeconds: 1}
  detection: {windowSeconds: 2}
  agents: [{url: ${agent.url}, tokenSecretRef: {name: agent-token, key: token}}]`);
      const p = await eventually('a memory trigger', async () => {
        const p = await policy('memory');
        return p.status?.lastTrigger?.reason === 'memory' ? p : undefined;
      }, 30_000);
      assert.equal(p.status?.lastTrigger?.pod, `${NS}/shop-web-0`);
      assert.ok((p.status?.lastTrigger?.memoryPercent ?? 0) > 50, `memory ${p.status?.lastTrigger?.memoryPercent}%`);
      assert.ok(p.status?.lastAnalysis, 'the trigger ran an analysis on the agent');
    } finally {
      hog?.kill('SIGKILL');
      await hog;
      await k(['-n', NS, 'delete', 'dp', 'memory']);
      for (const dir of [podDir, path.dirname(podDir), path.dirname(path.dirname(podDir))]) {
        for (let i = 0; i < 30; i++) {
          try {
            fs.rmdirSync(dir);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    }
  });

  it('survives an API server restart mid-watch', async () => {
    await restartApiServer({ stateDir: STATE_DIR });
    await k(['apply', '-f', '-'], `
apiVersion: floodgate.dev/v1alpha1
kind: BlockEvent
metadata: {name: after-restart, namespace: ${NS}}
spec: {ip: 198.51.100.78, policyRef: {name: web}, durationSeconds: 300, reason: after restart}`);
    await eventually('reconciled after the restart', async () => (await blockEvents()).find((b) => b.metadata.name === 'after-restart' && b.status?.phase === 'Active'), 60_000);
  });
});
