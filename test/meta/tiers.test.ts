// The test tiers (test/tiers.ts, docs/testing.md) put each file where it can
// run: the unit tier starts no API server and no network namespace, so a
// developer can run it anywhere; the reconcile unit tests are in it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { filesOf, testFiles, tierOf } from '../tiers.js';

const rel = (f: string) => f.slice(f.indexOf(`${path.sep}test${path.sep}`) + 1).split(path.sep).join('/');

describe('test tiers', () => {
  it('classify files by what they start', () => {
    const tier = (name: string) => tierOf(testFiles().find((f) => rel(f) === name)!);
    assert.equal(tier('test/reconcile/lifecycle-transitions.test.js'), 'unit');
    assert.equal(tier('test/controller/controller.test.js'), 'apiserver');
    assert.equal(tier('test/security/secret-exfiltration.test.js'), 'apiserver');
    assert.equal(tier('test/lab/lab.test.js'), 'lab');
    assert.equal(tier('test/firewall/nft-backend.test.js'), 'lab');
    assert.equal(tier('test/cluster/chart-on-node.test.js'), 'cluster');
    assert.equal(tier('test/images/images.test.js'), 'cluster');
  });

  it('the unit tier runs no kubectl, ip netns, nft or hping3', () => {
    const spawns = /\b(execa|spawn|execFile)\w*\(\s*['"](kubectl|hping3|nft|ip)['"]|['"]ip['"],\s*\[\s*['"]netns['"]/;
    const offenders = filesOf('unit').filter((f) => spawns.test(fs.readFileSync(f, 'utf8')));
    assert.deepEqual(offenders.map(rel), []);
    // The same pattern does find the heavier tiers' commands.
    assert.ok([...filesOf('lab'), ...filesOf('apiserver')].some((f) => spawns.test(fs.readFileSync(f, 'utf8'))));
  });

  it('every reconcile unit test is in the unit tier', () => {
    const reconcile = testFiles().filter((f) => rel(f).startsWith('test/reconcile/'));
    assert.ok(reconcile.length >= 4);
    assert.deepEqual(reconcile.filter((f) => tierOf(f) !== 'unit').map(rel), []);
  });
});
