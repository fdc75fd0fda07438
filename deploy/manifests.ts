// manifests/: plain YAML rendered from the chart, for `kubectl apply -f
// manifests/` without Helm. The tokens are not rendered (a random token in a
// committed file would be a shared secret, and would differ on every render):
// the files name Secrets the user creates first (see the README).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { helmTemplate, NAMESPACE, RELEASE, REPO_ROOT } from './helm.js';

export const MANIFESTS_DIR = path.join(REPO_ROOT, 'manifests');
export const AGENT_TOKEN_SECRET = 'floodgate-agent-token';
export const DASHBOARD_TOKEN_SECRET = 'floodgate-dashboard-token';

const HEADER = '# Generated from charts/floodgate by `npm run manifests:render`; do not edit (a test fails on drift).\n';
const BASE = [`agentToken.existingSecret=${AGENT_TOKEN_SECRET}`, `dashboard.token.existingSecret=${DASHBOARD_TOKEN_SECRET}`];

interface Part {
  file: string;
  templates: string[];
  set?: string[];
}

const PARTS: Part[] = [
  { file: '10-crds.yaml', templates: ['templates/crds.yaml'] },
  { file: '20-rbac.yaml', templates: ['templates/serviceaccount.yaml', 'templates/rbac.yaml'] },
  { file: '30-controller.yaml', templates: ['templates/controller-deployment.yaml', 'templates/service.yaml', 'templates/networkpolicy.yaml'] },
  { file: 'samples/defensepolicy.yaml', templates: ['templates/sample-defensepolicy.yaml'], set: ['samplePolicy.enabled=true'] },
  { file: 'samples/agent-daemonset.yaml', templates: ['templates/agent-daemonset.yaml'], set: ['agent.daemonset.enabled=true'] },
];

function namespaceYaml(): string {
  const ns = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NAMESPACE, labels: { 'app.kubernetes.io/name': 'floodgate', 'app.kubernetes.io/part-of': 'floodgate' } },
  };
  return `---\n${YAML.stringify(ns)}`;
}

/** Every file of manifests/ (path relative to it) with its content. */
export async function renderManifests(): Promise<Map<string, string>> {
  const out = new Map<string, string>([['00-namespace.yaml', HEADER + namespaceYaml()]]);
  for (const p of PARTS) {
    const yaml = await helmTemplate({
      release: RELEASE,
      namespace: NAMESPACE,
      set: [...BASE, ...(p.set ?? [])],
      extra: p.templates.flatMap((t) => ['--show-only', t]),
    });
    out.set(p.file, HEADER + (yaml.endsWith('\n') ? yaml : `${yaml}\n`));
  }
  return out;
}

/** Files under manifests/ that are rendered (the kind/ and k3d/ configs are hand-written). */
export function renderedFilesOnDisk(): string[] {
  const list: string[] = [];
  for (const dir of ['', 'samples']) {
    const abs = path.join(MANIFESTS_DIR, dir);
    if (!fs.existsSync(abs)) continue;
    for (const f of fs.readdirSync(abs)) if (f.endsWith('.yaml')) list.push(path.join(dir, f));
  }
  return list.sort();
}

export async function writeManifests(): Promise<string[]> {
  const files = await renderManifests();
  for (const stale of renderedFilesOnDisk()) if (!files.has(stale)) fs.rmSync(path.join(MANIFESTS_DIR, stale));
  for (const [file, content] of files) {
    fs.mkdirSync(path.dirname(path.join(MANIFESTS_DIR, file)), { recursive: true });
    fs.writeFileSync(path.join(MANIFESTS_DIR, file), content);
  }
  return [...files.keys()];
}
