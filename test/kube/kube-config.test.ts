/**
 * loadKubeConfig: explicit file > in-cluster > KUBECONFIG > ~/.kube/config,
 * and a one-line error when there is none.
 *
 *   node --import tsx --test test/kube/kube-config.test.ts
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  KubeConfigError,
  loadKubeConfig,
  loadKubeConfigDetailed,
  SERVICE_ACCOUNT_DIR,
} from '../../kube/kube-config.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fg-kubeconfig-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function kubeconfigFile(file: string, server: string, namespace?: string): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: { server: "${server}", insecure-skip-tls-verify: true }
users:
- name: u
  user: { token: abc }
contexts:
- name: ctx
  context: { cluster: c, user: u${namespace ? `, namespace: ${namespace}` : ''} }
- name: other
  context: { cluster: c, user: u, namespace: elsewhere }
current-context: ctx
`,
  );
  return file;
}

const noHome = path.join(tmp, 'no-home');
const noSa = path.join(tmp, 'no-sa', SERVICE_ACCOUNT_DIR);

describe('loadKubeConfig', () => {
  it('uses an explicit kubeconfig first', () => {
    const f = kubeconfigFile(path.join(tmp, 'explicit.yaml'), 'https://explicit:6443', 'ns1');
    const r = loadKubeConfigDetailed({ kubeconfig: f, env: { KUBECONFIG: '/nonexistent' }, homeDir: noHome });
    assert.equal(r.source, 'explicit');
    assert.equal(r.kc.getCurrentCluster()?.server, 'https://explicit:6443');
    assert.equal(r.namespace, 'ns1');
    const other = loadKubeConfigDetailed({ kubeconfig: f, context: 'other', env: {}, homeDir: noHome });
    assert.equal(other.namespace, 'elsewhere');
  });

  it('uses the service account in a pod', () => {
    const root = path.join(tmp, 'pod');
    const sa = path.join(root, SERVICE_ACCOUNT_DIR);
    mkdirSync(sa, { recursive: true });
    writeFileSync(path.join(sa, 'token'), 'sa-token');
    writeFileSync(path.join(sa, 'ca.crt'), 'not really a cert');
    writeFileSync(path.join(sa, 'namespace'), 'floodgate-system');
    const kcFile = kubeconfigFile(path.join(tmp, 'ignored.yaml'), 'https://ignored:6443');
    const r = loadKubeConfigDetailed({
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: kcFile },
      serviceAccountDir: sa,
      homeDir: noHome,
    });
    assert.equal(r.source, 'in-cluster');
    assert.equal(r.kc.getCurrentCluster()?.server, 'https://10.96.0.1:443');
    assert.equal(r.namespace, 'floodgate-system');
    // The env vars we borrowed are put back.
    assert.equal(process.env.KUBERNETES_SERVICE_HOST, undefined);
  });

  it('falls back to $KUBECONFIG (first file wins for the current context), then ~/.kube/config', () => {
    const a = kubeconfigFile(path.join(tmp, 'a.yaml'), 'https://a:6443');
    const b = kubeconfigFile(path.join(tmp, 'b.yaml'), 'https://b:6443');
    const r = loadKubeConfigDetailed({ env: { KUBECONFIG: `${a}${path.delimiter}${b}` }, serviceAccountDir: noSa, homeDir: noHome });
    assert.equal(r.source, 'KUBECONFIG');
    assert.equal(r.kc.getCurrentCluster()?.server, 'https://a:6443');

    const home = path.join(tmp, 'home');
    kubeconfigFile(path.join(home, '.kube', 'config'), 'https://home:6443');
    const h = loadKubeConfigDetailed({ env: {}, serviceAccountDir: noSa, homeDir: home });
    assert.equal(h.source, 'home');
    assert.equal(loadKubeConfig({ env: {}, serviceAccountDir: noSa, homeDir: home }).getCurrentCluster()?.server, 'https://home:6443');
  });

  it('fails with one clear line when there is no configuration', () => {
    assert.throws(
      () => loadKubeConfig({ env: {}, serviceAccountDir: noSa, homeDir: noHome }),
      (err: unknown) => {
        assert.ok(err instanceof KubeConfigError);
        assert.match(err.message, /^no Kubernetes configuration found: .*pass --kubeconfig$/);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
    assert.throws(() => loadKubeConfig({ kubeconfig: path.join(tmp, 'missing.yaml') }), /missing\.yaml \(from explicit\) does not exist/);
    assert.throws(
      () => loadKubeConfig({ env: { KUBECONFIG: path.join(tmp, 'gone.yaml') }, serviceAccountDir: noSa, homeDir: noHome }),
      /gone\.yaml \(from KUBECONFIG\) does not exist/,
    );
    const f = kubeconfigFile(path.join(tmp, 'ctx.yaml'), 'https://x:6443');
    assert.throws(() => loadKubeConfig({ kubeconfig: f, context: 'nope' }), /context "nope" not found/);
  });
});
