// The module boundaries the layout promises, checked on the TypeScript
// sources (type-only imports count: they are dependencies too):
//   - controller/ imports nothing from agent/ (it talks to agents through the
//     wire contract, api/agent/v1);
//   - api/ (the contracts) imports nothing from agent/, controller/ or cli/;
//   - agent/ imports nothing from controller/ (both share kube/, api/, lib/);
//   - kube/ (the shared Kubernetes plumbing) imports nothing of floodgate's own
//     but lib/: no api/, agent/, controller/ or cli/;
//   - detection/ and lib/ import nothing from agent/, controller/ or cli/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { moduleSpecifiers } from '../support/imports.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return (fs.readdirSync(abs, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(abs, f));
}

/** Every module specifier of a TS source, `import type` included. */
const specifiers = moduleSpecifiers;

/** `file -> imported file` for every relative import of the files under `dirs` that lands in one of `forbidden`. */
function crossings(dirs: string[], forbidden: string[]): string[] {
  const out: string[] = [];
  for (const file of dirs.flatMap(sources)) {
    for (const spec of specifiers(fs.readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = path.relative(ROOT, path.resolve(path.dirname(file), spec));
      if (forbidden.some((f) => target === f || target.startsWith(`${f}${path.sep}`))) out.push(`${path.relative(ROOT, file)} -> ${target}`);
    }
  }
  return out;
}

describe('module boundaries', () => {
  it('the walk sees imports, type-only ones included', () => {
    assert.deepEqual(specifiers("import type { A } from '../../agent/x.js';\nimport {\n  B,\n} from './b.js';\nexport { C } from \"./c.js\";\nconst d = await import('./d.js');\nimport './e.js';"), [
      '../../agent/x.js',
      './b.js',
      './c.js',
      './e.js',
      './d.js',
    ]);
    // And it does find crossings where they exist: cli/ uses the agent's config.
    assert.ok(crossings(['cli'], ['agent']).length > 0);
  });

  it('controller/ imports nothing from agent/', () => {
    assert.ok(sources('controller').length > 20, 'the walk found the controller');
    assert.deepEqual(crossings(['controller'], ['agent']), []);
  });

  it('agent/ imports nothing from controller/', () => {
    assert.ok(sources('agent').length > 20, 'the walk found the agent');
    assert.deepEqual(crossings(['agent'], ['controller']), []);
  });

  it('kube/ imports nothing of floodgate but lib/', () => {
    assert.ok(sources('kube').some((f) => f.endsWith('informer.ts')), 'the walk found kube/');
    assert.deepEqual(crossings(['kube'], ['api', 'agent', 'controller', 'cli', 'detection', 'native']), []);
  });

  it('the contracts (api/) import nothing from agent/, controller/ or cli/', () => {
    assert.ok(sources('api').some((f) => f.endsWith(path.join('agent', 'v1', 'client.ts'))));
    assert.deepEqual(crossings(['api'], ['agent', 'controller', 'cli']), []);
  });

  it('detection/ and lib/ import nothing from agent/, controller/ or cli/', () => {
    assert.deepEqual(crossings(['detection', 'lib'], ['agent', 'controller', 'cli']), []);
  });
});
