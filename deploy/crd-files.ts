// Where the CRD manifests live (crds/<plural>.<group>.yaml), for the
// generator, the tests and the Helm chart's symlink. Resolved from the
// repository root, found by walking up from this file to the nearest
// package.json, so it works from source (tsx: deploy/) and compiled (dist/deploy/).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCK_EVENT, DEFENSE_POLICY, FLOODGATE_NODE, KINDS, SIGNATURE_RULE, type ResourceDescriptor } from '../api/v1alpha1/index.js';

/** The nearest directory at or above `from` that holds a package.json named "floodgate". */
export function findRepoRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = path.resolve(from);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'floodgate') return dir;
      } catch {
        // not our package.json; keep walking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no floodgate package.json found at or above ${from}`);
    dir = parent;
  }
}

/** crds/ of the repository. */
export function crdDir(root: string = findRepoRoot()): string {
  return path.join(root, 'crds');
}

/** The manifest of one kind: crds/<plural>.<group>.yaml. */
export function crdPath(kind: Pick<ResourceDescriptor, 'crdName'>, root: string = findRepoRoot()): string {
  return path.join(crdDir(root), `${kind.crdName}.yaml`);
}

export interface CrdFiles {
  dir: string;
  defensePolicy: string;
  blockEvent: string;
  signatureRule: string;
  floodgateNode: string;
  /** Every kind's, in apply order (api/v1alpha1 KINDS). */
  all: string[];
}

/** Paths of the CRD manifests (`<plural>.<group>.yaml`). */
export function crdFiles(root: string = findRepoRoot()): CrdFiles {
  return {
    dir: crdDir(root),
    defensePolicy: crdPath(DEFENSE_POLICY, root),
    blockEvent: crdPath(BLOCK_EVENT, root),
    signatureRule: crdPath(SIGNATURE_RULE, root),
    floodgateNode: crdPath(FLOODGATE_NODE, root),
    all: KINDS.map((k) => crdPath(k, root)),
  };
}
