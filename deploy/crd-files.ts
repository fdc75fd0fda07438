// Where the CRD manifests live, for the tests, the controller's startup check
// and (later) the Helm chart. Resolved from the repository root, found by
// walking up from this file to the nearest package.json, so it works from
// source (tsx: deploy/) and compiled (dist/deploy/).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLOCK_EVENT, DEFENSE_POLICY } from '../api/v1alpha1/types.js';

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

export interface CrdFiles {
  dir: string;
  defensePolicy: string;
  blockEvent: string;
  /** Both, in apply order. */
  all: string[];
}

/** Paths of the two CRD manifests (`<plural>.<group>.yaml`). */
export function crdFiles(root: string = findRepoRoot()): CrdFiles {
  const dir = crdDir(root);
  const defensePolicy = path.join(dir, `${DEFENSE_POLICY.crdName}.yaml`);
  const blockEvent = path.join(dir, `${BLOCK_EVENT.crdName}.yaml`);
  return { dir, defensePolicy, blockEvent, all: [defensePolicy, blockEvent] };
}
