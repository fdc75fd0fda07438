// The controller image's node flags live in one place, its Dockerfile's
// ENTRYPOINT; bench:controller reads them from there (controllerImageNodeFlags),
// so the bench measures what a pod runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { controllerImageNodeFlags } from '../../bench/controller/env.js';

describe('controller image node flags', () => {
  it('come from the ENTRYPOINT of images/controller/Dockerfile', () => {
    assert.deepEqual(controllerImageNodeFlags(), ['--optimize-for-size']);
  });

  it('are the arguments between node and the script, and a Dockerfile without them is an error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-dockerfile-'));
    try {
      const f = path.join(dir, 'Dockerfile');
      fs.writeFileSync(f, 'FROM x\nENTRYPOINT ["node", "--a", "--b=1", "/app/bin/floodgate.js"]\nCMD ["controller"]\n');
      assert.deepEqual(controllerImageNodeFlags(f), ['--a', '--b=1']);
      fs.writeFileSync(f, 'FROM x\nENTRYPOINT ["/bin/sh"]\n');
      assert.throws(() => controllerImageNodeFlags(f), /ENTRYPOINT is not \["node", \.\.\.\]/);
      fs.writeFileSync(f, 'FROM x\n');
      assert.throws(() => controllerImageNodeFlags(f), /no ENTRYPOINT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
