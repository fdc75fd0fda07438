// The docs must stay true where a claim can be checked mechanically: every
// relative link and every repository path they name in backticks exists.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../deploy/helm.js';

const TOP_DIRS = ['agent', 'api', 'attack', 'bench', 'charts', 'cli', 'controller', 'crds', 'demo', 'deploy', 'detection', 'docs', 'images', 'kube', 'lib', 'manifests', 'mitigation', 'native', 'scripts', 'test'];
const PATH_IN_BACKTICKS = new RegExp(`\`((?:${TOP_DIRS.join('|')})/[A-Za-z0-9_./-]*)\``, 'g');
const LINK = /\]\(([^)\s]+)\)/g;

function markdownFiles(): string[] {
  const docs = fs.readdirSync(path.join(REPO_ROOT, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f));
  return ['README.md', 'SECURITY.md', 'charts/floodgate/README.md', ...docs];
}

/** Sources are named as .ts; a compiled name (.js) or a generated test file counts when its source exists. */
function exists(rel: string): boolean {
  const p = path.join(REPO_ROOT, rel.replace(/[.,:;]+$/, ''));
  return fs.existsSync(p) || (p.endsWith('.js') && fs.existsSync(p.replace(/\.js$/, '.ts')));
}

test('every relative link and every repository path named in the docs exists', () => {
  const missing: string[] = [];
  for (const file of markdownFiles()) {
    const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
    for (const [, target = ''] of text.matchAll(LINK)) {
      if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
      const rel = path.relative(REPO_ROOT, path.resolve(path.dirname(path.join(REPO_ROOT, file)), target.split('#')[0] ?? ''));
      if (!exists(rel)) missing.push(`${file}: link ${target}`);
    }
    for (const [, named = ''] of text.matchAll(PATH_IN_BACKTICKS)) {
      if (/[*<>{}]/.test(named) || named.startsWith('dist/')) continue;
      if (!exists(named)) missing.push(`${file}: \`${named}\``);
    }
  }
  assert.deepEqual(missing, [], `the docs name files that do not exist:\n${missing.join('\n')}`);
});
