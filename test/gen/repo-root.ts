// The repository root, found by walking up to package.json, so paths work
// both from the sources (tsx) and from the compiled copy under dist/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test', 'fixtures'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('repository root not found above test/gen');
    dir = parent;
  }
}

/** Where the committed link fixtures live. */
export function committedFixtureDir(): string {
  return join(repoRoot(), 'test', 'fixtures', 'captures');
}
