// docs/lifecycle.md shows the lifecycle the code runs: its diagram and table
// are exactly what TRANSITIONS renders (npm run docs:lifecycle rewrites them),
// and lifecycle-transitions.test.ts drives every row through the reconciler.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { currentBlock, LIFECYCLE_DOC, lifecycleBlock } from '../../deploy/lifecycle-doc.js';
import { TRANSITIONS } from '../../controller/reconcile/enforcement-lifecycle.js';

describe('docs/lifecycle.md', () => {
  it('holds the diagram and table generated from TRANSITIONS (run npm run docs:lifecycle after changing them)', () => {
    const doc = fs.readFileSync(LIFECYCLE_DOC, 'utf8');
    assert.equal(currentBlock(doc), lifecycleBlock());
  });

  it('names every phase of the CRD, and every transition once', () => {
    const block = lifecycleBlock();
    for (const phase of ['Pending', 'Active', 'Expired', 'Released', 'Failed']) assert.match(block, new RegExp(`\\b${phase}\\b`));
    assert.equal(new Set(TRANSITIONS.map((t) => t.id)).size, TRANSITIONS.length);
  });
});
