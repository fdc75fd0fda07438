// The README's DefensePolicy is one a user can apply: it passes the kind's schema.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { DEFENSE_POLICY, resolved } from '../../api/v1alpha1/index.js';
import { REPO_ROOT } from '../../deploy/helm.js';

test('the DefensePolicy in the README passes the DefensePolicy schema', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README shows a DefensePolicy in a yaml block');
  const obj = YAML.parse(block) as Parameters<typeof resolved<typeof DEFENSE_POLICY>>[1];
  assert.equal(obj.kind, 'DefensePolicy');
  const policy = resolved(DEFENSE_POLICY, obj);
  assert.equal(policy.spec.mitigation.signatures, 'auto');
});
