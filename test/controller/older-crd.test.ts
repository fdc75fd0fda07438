// A DefensePolicy stored under an older, looser CRD (Helm never upgrades
// crds/; the API server never re-validates stored objects): the controller
// resolves every object once as it enters its cache
// (controller/resources/admission.ts), so it reports this one as InvalidSpec,
// naming each bad field, and runs no defense for it until it is fixed, while a
// valid policy beside it works. Two stages: the older CRD still installed (the
// status write goes through: Ready=False), then the CRD upgraded (the server
// now refuses any status write to the object, since it validates the whole
// object: the Warning event carries the message). Real parts: our
// kube-apiserver 1.20.2 and the controller in this process; the agents' URL
// answers nothing (the defenses only record that).
//
//   FLOODGATE_CP_OLDCRD_STATE_DIR (default /tmp/floodgate-cp-oldcrd): its API server's state dir.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFENSE_POLICY, type DefensePolicy } from '../../api/v1alpha1/index.js';
import { startController, type RunningController } from '../../controller/controller.js';
import { crdManifest, type SchemaNode } from '../../deploy/crds.js';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { e2eControllerOptions, eventually, kubectl, startApiServerWithCrds, stopApiServer } from './e2e-env.js';

const STATE_DIR = process.env.FLOODGATE_CP_OLDCRD_STATE_DIR || '/tmp/floodgate-cp-oldcrd';
const NS = `oldcrd-${process.pid}`;

/** The DefensePolicy CRD as an older release might have had it: no upper bound on the share, no allowlist pattern. */
function looserCrd(): SchemaNode {
  const crd = crdManifest(DEFENSE_POLICY);
  const spec = (crd as { spec: { versions: { schema: { openAPIV3Schema: SchemaNode } }[] } }).spec.versions[0]!.schema.openAPIV3Schema;
  const at = (node: SchemaNode, ...steps: string[]): SchemaNode =>
    steps.reduce((n, s) => (s === '[]' ? (n.items as SchemaNode) : ((n.properties as Record<string, SchemaNode>)[s] as SchemaNode)), node);
  delete at(spec, 'spec', 'detection', 'attackerShareThreshold').maximum;
  delete at(spec, 'spec', 'mitigation', 'allowlist', '[]').pattern;
  return crd;
}

describe('a policy stored under an older CRD', { timeout: 5 * 60_000 }, () => {
  let cp: ControlPlane;
  let controller: RunningController | undefined;
  const k = (args: string[], input?: string) => kubectl(cp.kubeconfig, args, input);
  const policy = async (name: string) => JSON.parse((await k(['-n', NS, 'get', 'dp', name, '-o', 'json'])).stdout) as DefensePolicy;
  const ready = (p: DefensePolicy) => p.status?.conditions?.find((c) => c.type === 'Ready');
  const manifest = (name: string, detection: object, allowlist: string[]) =>
    JSON.stringify({
      apiVersion: 'floodgate.dev/v1alpha1',
      kind: 'DefensePolicy',
      metadata: { name, namespace: NS },
      spec: {
        trigger: { continuous: true, pollIntervalSeconds: 1 },
        detection,
        mitigation: { allowlist },
        agents: [{ url: 'http://127.0.0.1:9' }],
      },
    });

  before(async () => {
    cp = await startApiServerWithCrds(STATE_DIR);
    await k(['create', 'namespace', NS]);
    const r = await k(['apply', '-f', '-'], JSON.stringify(looserCrd()));
    assert.equal(r.exitCode, 0, r.stderr);
    await eventually(
      'the looser CRD in effect',
      async () => (await k(['create', '--validate=false', '-f', '-'], manifest('old', { attackerShareThreshold: 5 }, ['10.0.0.0/33', '10.0.0.0/8']))).exitCode === 0,
      30_000,
      500,
    );
    assert.equal((await k(['create', '-f', '-'], manifest('good', { attackerShareThreshold: 0.5 }, ['10.0.0.0/8']))).exitCode, 0);
    controller = await startController(e2eControllerOptions(cp.kubeconfig, NS));
  });

  after(async () => {
    await controller?.stop().catch(() => undefined);
    if (cp) await stopApiServer(STATE_DIR);
  });

  it('the stored object keeps what the old CRD accepted', async () => {
    const p = await policy('old');
    assert.equal(p.spec.detection.attackerShareThreshold, 5);
    assert.deepEqual(p.spec.mitigation.allowlist, ['10.0.0.0/33', '10.0.0.0/8']);
  });

  it('is Ready=False InvalidSpec, naming each field the current schema rejects', async () => {
    const c = await eventually('old: Ready=False', async () => {
      const r = ready(await policy('old'));
      return r?.status === 'False' ? r : undefined;
    });
    assert.equal(c.reason, 'InvalidSpec');
    assert.match(c.message, /spec\.detection\.attackerShareThreshold: attackerShareThreshold is a fraction in \(0, 1\]/);
    assert.match(c.message, /spec\.mitigation\.allowlist\.0: /);
    const table = (await k(['-n', NS, 'get', 'dp'])).stdout;
    assert.match(table, /\nold\s+False\s/);
  });

  it('and a Warning event InvalidSpec says the same (kubectl describe)', async () => {
    const ev = await eventually('the InvalidSpec event', async () => {
      const list = JSON.parse((await k(['-n', NS, 'get', 'events', '--field-selector', 'involvedObject.name=old,reason=InvalidSpec', '-o', 'json'])).stdout) as {
        items: { type: string; message: string; involvedObject: { kind: string } }[];
      };
      return list.items[0];
    });
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.involvedObject.kind, 'DefensePolicy');
    assert.match(ev.message, /^not acted on until fixed: spec\.detection\.attackerShareThreshold: /);
  });

  it('runs no defense for it, while the valid policy beside it runs one every poll', async () => {
    // The valid policy's continuous trigger is the clock: two of its defenses later, the invalid one would have run too.
    const first = await eventually('good: a defense ran', async () => (await policy('good')).status?.lastTrigger?.time);
    await eventually('good: another defense ran', async () => {
      const t = (await policy('good')).status?.lastTrigger?.time;
      return t !== undefined && t !== first;
    });
    assert.equal(ready(await policy('good'))?.status, 'True');
    assert.equal((await policy('old')).status?.lastTrigger, undefined);
  });

  it('after the CRD upgrade the server refuses every status write to it; the controller carries on', async () => {
    const up = await k(['apply', '-f', '-'], JSON.stringify(crdManifest(DEFENSE_POLICY)));
    assert.equal(up.exitCode, 0, up.stderr);
    await eventually(
      'the generated CRD in effect',
      async () => /should be less than or equal to 1/.test((await k(['create', '--validate=false', '-f', '-'], manifest('probe', { attackerShareThreshold: 5 }, []))).stderr),
      30_000,
      500,
    );
    const write = await k(['-n', NS, 'patch', 'dp', 'old', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { activeBlocks: 1 } })]);
    assert.notEqual(write.exitCode, 0, 'the server validates the whole object on a status write');
    assert.match(write.stderr, /spec\.detection\.attackerShareThreshold/);
    const before = (await policy('good')).status?.lastTrigger?.time;
    await eventually('good: still defended', async () => (await policy('good')).status?.lastTrigger?.time !== before);
  });

  it('once fixed, it is Ready and defended like the other', async () => {
    const r = await k(['-n', NS, 'patch', 'dp', 'old', '--type=merge', '-p', JSON.stringify({ spec: { detection: { attackerShareThreshold: 0.5 }, mitigation: { allowlist: ['10.0.0.0/8'] } } })]);
    assert.equal(r.exitCode, 0, r.stderr);
    const c = await eventually('old: Ready=True', async () => {
      const c = ready(await policy('old'));
      return c?.status === 'True' ? c : undefined;
    });
    assert.equal(c.reason, 'Reconciled');
    await eventually('old: a defense ran', async () => (await policy('old')).status?.lastTrigger?.reason === 'continuous');
  });
});
