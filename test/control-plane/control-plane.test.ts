/**
 * Smoke test of the self-started control plane: CRD, create/get/watch with
 * kubectl, RBAC denial of a non-admin token, API server restart.
 *
 *   node --import tsx --test test/control-plane/*.test.ts
 *
 * Uses its own state dir (so it can stop what it started without disturbing a
 * shared /tmp/floodgate-cp); FLOODGATE_CP_KEEP=1 leaves it running. With an
 * exported KUBECONFIG it runs against that cluster instead, starts and stops
 * nothing, and skips the non-admin/restart parts that need our token file.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import {
  ensureControlPlane,
  restartApiServer,
  stopControlPlane,
  type ControlPlane,
} from './control-plane.js';

const STATE_DIR = process.env.FLOODGATE_CP_SMOKE_STATE_DIR ?? `/tmp/floodgate-cp-smoke-${process.pid}`;
const KUBECTL = existsSync('/usr/local/bin/kubectl') ? '/usr/local/bin/kubectl' : 'kubectl';
const GROUP = 'smoke.floodgate.io';
const CRD_NAME = `widgets.${GROUP}`;
const NS = 'default';

const CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${CRD_NAME}
spec:
  group: ${GROUP}
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 0 }
`;

const widget = (name: string, size: number): string => `
apiVersion: ${GROUP}/v1alpha1
kind: Widget
metadata: { name: ${name}, namespace: ${NS} }
spec: { size: ${size} }
`;

let cp: ControlPlane;

async function kubectl(args: string[], opts: { input?: string; kubeconfig?: string; reject?: boolean } = {}) {
  const kubeconfig = opts.kubeconfig ?? cp.kubeconfig;
  return execa(KUBECTL, ['--kubeconfig', kubeconfig, ...args], {
    input: opts.input,
    reject: opts.reject ?? true,
    timeout: 60_000,
    env: { KUBECONFIG: kubeconfig },
  });
}

/** Collect a running process's stdout; `until` polls it for a condition. */
function collect(proc: ResultPromise) {
  const buf = { out: '', ended: false };
  proc.stdout?.on('data', (chunk: Buffer) => {
    buf.out += chunk.toString();
  });
  void proc.finally(() => {
    buf.ended = true;
  });
  return {
    get out() {
      return buf.out;
    },
    async until(pred: (out: string) => boolean, what: string, ms = 30_000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!pred(buf.out)) {
        if (buf.ended) throw new Error(`watch ended before ${what}; output:\n${buf.out}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; watch output so far:\n${buf.out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return buf.out;
    },
  };
}

describe('self-started Kubernetes control plane', { timeout: 45 * 60_000 }, () => {
  before(async () => {
    const t0 = Date.now();
    cp = await ensureControlPlane({ stateDir: STATE_DIR });
    console.error(`# control plane ${cp.server} (external=${cp.external}) ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  });

  after(async () => {
    if (!cp) return;
    await kubectl(['delete', 'crd', CRD_NAME, '--ignore-not-found', '--wait=false'], { reject: false });
    if (!cp.external && process.env.FLOODGATE_CP_KEEP !== '1') {
      await stopControlPlane({ stateDir: STATE_DIR, wipe: true });
    }
  });

  it('answers /readyz and /version', async () => {
    const ready = await kubectl(['get', '--raw', '/readyz']);
    assert.equal(ready.stdout.trim(), 'ok');
    const version = JSON.parse((await kubectl(['get', '--raw', '/version'])).stdout) as { gitVersion: string };
    if (!cp.external) assert.equal(version.gitVersion, 'v1.20.2');
  });

  it('ensureControlPlane is idempotent (reuses the running one)', async () => {
    const again = await ensureControlPlane({ stateDir: STATE_DIR });
    assert.deepEqual(again, cp);
  });

  it('applies a CustomResourceDefinition', async () => {
    await kubectl(['apply', '-f', '-'], { input: CRD });
    await kubectl(['wait', '--for=condition=Established', `crd/${CRD_NAME}`, '--timeout=60s']);
  });

  it('creates, gets and watches a custom object', async () => {
    await kubectl(['apply', '-f', '-'], { input: widget('w1', 3) });
    const got = JSON.parse((await kubectl(['get', `widgets.${GROUP}`, 'w1', '-n', NS, '-o', 'json'])).stdout) as {
      spec: { size: number };
      metadata: { resourceVersion: string };
    };
    assert.equal(got.spec.size, 3);
    assert.match(got.metadata.resourceVersion, /^\d+$/);

    const watch = execa(
      KUBECTL,
      [
        '--kubeconfig', cp.kubeconfig, 'get', `widgets.${GROUP}`, '-n', NS, '--watch', '--output-watch-events',
        '-o', 'jsonpath={.type} {.object.metadata.name} {.object.spec.size}{"\\n"}',
      ],
      { env: { KUBECONFIG: cp.kubeconfig }, reject: false, timeout: 120_000 },
    );
    const events = collect(watch);
    try {
      await events.until((o) => o.includes('ADDED w1 3'), 'initial ADDED w1');
      await kubectl(['patch', `widgets.${GROUP}`, 'w1', '-n', NS, '--type=merge', '-p', '{"spec":{"size":4}}']);
      await kubectl(['apply', '-f', '-'], { input: widget('w2', 7) });
      await kubectl(['delete', `widgets.${GROUP}`, 'w2', '-n', NS]);
      const out = await events.until(
        (o) => o.includes('MODIFIED w1 4') && o.includes('ADDED w2 7') && o.includes('DELETED w2 7'),
        'MODIFIED w1, ADDED w2, DELETED w2',
      );
      assert.ok(out.indexOf('ADDED w2 7') < out.indexOf('DELETED w2 7'), out);
    } finally {
      watch.kill();
      await watch;
    }
  });

  it('enforces RBAC: the non-admin token may not list secrets', async (t) => {
    if (cp.external || !cp.userKubeconfig) return t.skip('external cluster: no non-admin token of ours');
    const admin = await kubectl(['get', 'secrets', '-n', NS]);
    assert.equal(admin.exitCode, 0);
    const user = await kubectl(['get', 'secrets', '-n', NS], { kubeconfig: cp.userKubeconfig, reject: false });
    assert.notEqual(user.exitCode, 0, 'non-admin user listed secrets');
    assert.match(user.stderr, /forbidden/i);
    assert.match(user.stderr, /User "floodgate-user" cannot list resource "secrets"/);
    const canI = await kubectl(['auth', 'can-i', 'list', 'secrets', '-n', NS], { kubeconfig: cp.userKubeconfig, reject: false });
    assert.equal(canI.stdout.trim(), 'no');
  });

  it('keeps objects across an API server restart', async (t) => {
    if (cp.external) return t.skip('external cluster: we do not own its API server');
    const before = (await kubectl(['get', `widgets.${GROUP}`, 'w1', '-n', NS, '-o', 'jsonpath={.metadata.uid}'])).stdout;
    const t0 = Date.now();
    await restartApiServer({ stateDir: STATE_DIR });
    console.error(`# kube-apiserver restarted in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const afterUid = (await kubectl(['get', `widgets.${GROUP}`, 'w1', '-n', NS, '-o', 'jsonpath={.metadata.uid}'])).stdout;
    assert.equal(afterUid, before);
  });
});
