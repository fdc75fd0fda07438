// `floodgate doctor` as a user runs it: one line per check, exit 1 on a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { isRoot } from '../support/netns.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));

test('doctor checks the pf.conf anchor line and fails without it', { skip: isRoot() ? false : 'needs root to capture' }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-doctor-'));
  const cfg = path.join(dir, 'agent.yaml');
  fs.writeFileSync(cfg, `stateDir: ${dir}/state\nbackend: dry-run\ninterface: lo\n`);
  try {
    const without = path.join(dir, 'pf.conf');
    fs.writeFileSync(without, 'set skip on lo0\npass all\n');
    const bad = await execa(process.execPath, [bin, 'doctor', '--config', cfg, '--pf-conf', without], { reject: false, env: { FLOODGATE_TOKEN: '' } });
    assert.equal(bad.exitCode, 1);
    assert.match(String(bad.stdout), /FAIL\s+pf\.conf anchor: .* has no 'anchor "floodgate"' line/);
    assert.match(String(bad.stdout), /ok\s+capture on lo: works/);
    assert.match(String(bad.stdout), /warn\s+API token/);

    const withAnchor = path.join(dir, 'pf-ok.conf');
    fs.writeFileSync(withAnchor, 'set skip on lo0\nanchor "floodgate"\npass all\n');
    const good = await execa(process.execPath, [bin, 'doctor', '--config', cfg, '--pf-conf', withAnchor], { reject: false, env: { FLOODGATE_TOKEN: 'a-long-enough-token-value' } });
    assert.equal(good.exitCode, 0, String(good.stdout));
    assert.match(String(good.stdout), /ok\s+pf\.conf anchor/);
    assert.match(String(good.stdout), /ok\s+firewall backend \(dry-run\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
