// The controller image's node flags live in one place, the ENTRYPOINT of
// images/Dockerfile's controller stage; bench:controller reads them from there (controllerImageNodeFlags),
// so the bench measures what a pod runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { controllerImageNodeFlags } from '../../bench/controller/env.js';

describe('controller image node flags', () => {
  it("come from the ENTRYPOINT of images/Dockerfile's controller stage", () => {
    assert.deepEqual(controllerImageNodeFlags(), ['--optimize-for-size']);
  });

  it("are the arguments between node and the script in the controller stage, and a Dockerfile without them is an error", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-dockerfile-'));
    try {
      const f = path.join(dir, 'Dockerfile');
      const agent = 'FROM x AS agent\nENTRYPOINT ["node", "--agent-flag", "/app/bin/floodgate.js"]\n';
      fs.writeFileSync(f, `${agent}FROM x AS controller\nENTRYPOINT ["node", "--a", "--b=1", "/app/bin/floodgate.js"]\nCMD ["controller"]\nFROM x AS later\nENTRYPOINT ["node", "--later", "/app/bin/floodgate.js"]\n`);
      assert.deepEqual(controllerImageNodeFlags(f), ['--a', '--b=1'], 'only the controller stage counts');
      fs.writeFileSync(f, 'FROM x AS controller\nENTRYPOINT ["/bin/sh"]\n');
      assert.throws(() => controllerImageNodeFlags(f), /ENTRYPOINT is not \["node", \.\.\.\]/);
      fs.writeFileSync(f, `FROM x AS controller\nCMD ["controller"]\n${agent}`);
      assert.throws(() => controllerImageNodeFlags(f), /no ENTRYPOINT/, "another stage's ENTRYPOINT is not the controller's");
      fs.writeFileSync(f, agent);
      assert.throws(() => controllerImageNodeFlags(f), /no "FROM \.\.\. AS controller" stage/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
