// Files that must stay in step with the chart: its README's parameter table,
// values.schema.json, manifests/ (rendered from the chart), the host agent's
// systemd/launchd files and configs, and the kind/k3d script.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import { CHART_DIR, REPO_ROOT } from '../../deploy/helm.js';
import { currentTable, documentedValues, leafKeys } from '../../deploy/values-table.js';
import { renderManifests, renderedFilesOnDisk, MANIFESTS_DIR } from '../../deploy/manifests.js';
import { loadAgentConfig } from '../../agent/config/agent-config.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const valuesYaml = fs.readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8');

test('every value in values.yaml has a `# --` comment, and the README table is generated from them', () => {
  const documented = new Set(documentedValues(valuesYaml).map((d) => d.key));
  const leaves = leafKeys(YAML.parse(valuesYaml));
  const undocumented = leaves.filter((k) => !documented.has(k) && ![...documented].some((d) => k.startsWith(`${d}.`)));
  assert.deepEqual(undocumented, [], 'values without a # -- comment');
  const { readme, expected } = currentTable();
  assert.ok(readme === expected, 'charts/floodgate/README.md: the chart parameter table differs from values.yaml: run npm run chart:docs');
  assert.match(readme, /\| `agent\.host\.url` \| `""` \| .*https:\/\/host\.docker\.internal:12345/);
  assert.match(readme, /\| `agent\.tls\.enabled` \| `true` \|/);
});

test('values.schema.json is strict: additionalProperties false on every object, and it knows every key of values.yaml', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(CHART_DIR, 'values.schema.json'), 'utf8')) as Any;
  const loose: string[] = [];
  const walk = (s: Any, at: string) => {
    if (s.properties) {
      if (s.additionalProperties !== false) loose.push(at || '(root)');
      for (const [k, v] of Object.entries(s.properties as Any)) walk(v as Any, `${at}.${k}`);
    }
    if (s.items) walk(s.items as Any, `${at}[]`);
  };
  walk(schema, '');
  assert.deepEqual(loose, []);
  const unknown: string[] = [];
  const check = (v: unknown, s: Any | undefined, at: string) => {
    if (!s) return void unknown.push(at);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
    for (const [k, child] of Object.entries(v)) {
      check(child, s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined), `${at}.${k}`);
    }
  };
  check(YAML.parse(valuesYaml), schema, '');
  assert.deepEqual(unknown, [], 'keys of values.yaml that values.schema.json does not know');
});

test('manifests/ is exactly what the chart renders (npm run manifests:render)', async () => {
  const rendered = await renderManifests();
  assert.deepEqual(renderedFilesOnDisk(), [...rendered.keys()].sort(), 'files under manifests/ differ from the rendered set');
  for (const [file, content] of rendered) {
    assert.ok(fs.readFileSync(path.join(MANIFESTS_DIR, file), 'utf8') === content, `manifests/${file} drifted from the chart: run npm run manifests:render`);
  }
  const all = [...rendered.values()].flatMap((y) => YAML.parseAllDocuments(y).map((d) => d.toJS() as Any)).filter(Boolean);
  assert.ok(!all.some((o) => o.kind === 'Secret'), 'no token is committed');
  assert.deepEqual(
    [...new Set(all.map((o) => o.kind))].sort(),
    ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'DaemonSet', 'DefensePolicy', 'Deployment', 'Namespace', 'NetworkPolicy', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'],
  );
});

test('the chart reads the CRDs from crds/ itself (files/crds is a symlink), so there is one source of truth', () => {
  const link = path.join(CHART_DIR, 'files', 'crds');
  assert.ok(fs.lstatSync(link).isSymbolicLink());
  assert.equal(fs.realpathSync(link), fs.realpathSync(path.join(REPO_ROOT, 'crds')));
});

test('host agent: the Linux and macOS configs pass the agent\'s schema and read the token from a file', () => {
  const linux = loadAgentConfig(path.join(REPO_ROOT, 'deploy/host/linux/agent.yaml'), {});
  assert.equal(linux.backend, 'nft');
  assert.equal(linux.tokenFile, '/etc/floodgate/token');
  const mac = loadAgentConfig(path.join(REPO_ROOT, 'deploy/host/macos/agent.yaml'), {});
  assert.equal(mac.backend, 'pf');
  assert.equal(mac.tokenFile, '/usr/local/etc/floodgate/token');
  assert.equal(fs.readFileSync(path.join(REPO_ROOT, 'deploy/host/macos/pf.conf.anchor'), 'utf8').trim(), 'anchor "floodgate"');
});

test('host agent: the systemd unit passes systemd-analyze verify, is not root and has exactly the two capabilities', async () => {
  const unit = path.join(REPO_ROOT, 'deploy/host/linux/floodgate-agent.service');
  const text = fs.readFileSync(unit, 'utf8');
  assert.match(text, /^User=floodgate$/m);
  assert.match(text, /^AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW$/m);
  assert.match(text, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW$/m);
  assert.match(text, /--config \/etc\/floodgate\/agent\.yaml/);
  const r = await execa('systemd-analyze', ['verify', unit], { reject: false });
  assert.equal(r.exitCode, 0, String(r.stderr));
  // The check itself catches a broken unit.
  const bad = path.join(fs.mkdtempSync('/tmp/fg-unit-'), 'floodgate-agent.service');
  fs.writeFileSync(bad, text.replace('ExecStart=/usr/bin/node', 'ExecStart=/nonexistent/node'));
  assert.notEqual((await execa('systemd-analyze', ['verify', bad], { reject: false })).exitCode, 0);
  fs.rmSync(path.dirname(bad), { recursive: true });
});

test('host agent: the launchd plist is a valid property list that runs the agent with its config', async () => {
  const plist = path.join(REPO_ROOT, 'deploy/host/macos/dev.floodgate.agent.plist');
  const r = await execa('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', plist]);
  const p = JSON.parse(String(r.stdout)) as Any;
  assert.equal(p.Label, 'dev.floodgate.agent');
  assert.deepEqual(p.ProgramArguments.slice(2), ['agent', '--config', '/usr/local/etc/floodgate/agent.yaml']);
  assert.equal(p.RunAtLoad, true);
});

test('kind and k3d: cluster configs parse, and scripts/cluster-up.sh (and the scripts it shares with the tests) pass bash -n and shellcheck', async () => {
  const kind = YAML.parse(fs.readFileSync(path.join(MANIFESTS_DIR, 'kind/cluster.yaml'), 'utf8')) as Any;
  assert.equal(kind.kind, 'Cluster');
  assert.equal(kind.apiVersion, 'kind.x-k8s.io/v1alpha4');
  const k3d = YAML.parse(fs.readFileSync(path.join(MANIFESTS_DIR, 'k3d/cluster.yaml'), 'utf8')) as Any;
  assert.equal(k3d.kind, 'Simple');
  assert.equal(k3d.apiVersion, 'k3d.io/v1alpha5');
  const scripts = [
    'scripts/cluster-up.sh', 'scripts/ensure-helm.sh', 'scripts/demo.sh', 'scripts/test.sh', 'scripts/ensure-node.sh',
    'scripts/ensure-docker.sh', 'scripts/build-images.sh', 'scripts/docker/runc-no-negative-oom', 'images/local-base/build.sh', 'test/cluster/node.sh',
  ].map((s) => path.join(REPO_ROOT, s));
  for (const s of scripts) assert.equal((await execa('bash', ['-n', s], { reject: false })).exitCode, 0, `bash -n ${s}`);
  // -x with the script's own directory: node.sh sources test/control-plane/lib.sh.
  const sc = await execa('shellcheck', ['-x', '-P', 'SCRIPTDIR', ...scripts], { reject: false }); // installed by scripts/install-deps.sh
  assert.equal(sc.exitCode, 0, String(sc.stdout || sc.stderr));
});
