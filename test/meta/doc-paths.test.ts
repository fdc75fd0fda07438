// The docs name files and folders of the tree (`kube/informer.ts`,
// `controller/nodes/`) and link to each other; after a move or a rename such a
// reference keeps pointing at nothing. Every path the docs give in code spans
// under a top-level folder of the tree, and every relative link, must exist.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOCS = path.join(ROOT, 'docs');
/** Code spans that look like repository paths but name something else (a Node package's own bin/node). */
const NOT_REPO_PATHS = new Set(['bin/node']);

function markdownFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? markdownFiles(p) : e.name.endsWith('.md') ? [p] : [];
  });
}

/** Top-level folders of the tree: a code span starting with one of these and a slash is a repository path. */
function topFolders(): Set<string> {
  const skip = new Set(['node_modules', 'dist', '.git']);
  return new Set(fs.readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory() && !skip.has(e.name)).map((e) => e.name));
}

/** The repository paths and relative links one markdown file gives, each with where it points. */
export function referencesOf(file: string, text: string, tops: Set<string>): { ref: string; target: string }[] {
  const refs: { ref: string; target: string }[] = [];
  for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
    const link = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
    refs.push({ ref: link, target: path.resolve(path.dirname(file), link) });
  }
  for (const m of text.matchAll(/`([^`\s]+)`/g)) {
    const span = m[1]!.replace(/[.,;:]$/, '');
    if (/[<>*{}$]/.test(span)) continue; // a pattern or a placeholder, not a path
    const top = span.split('/')[0]!;
    if (!span.includes('/') || !tops.has(top) || NOT_REPO_PATHS.has(span)) continue;
    refs.push({ ref: span, target: path.join(ROOT, span) });
  }
  return refs;
}

describe('docs name paths that exist', () => {
  it('every repository path in a code span and every relative link of docs/*.md exists', () => {
    const tops = topFolders();
    const missing: string[] = [];
    let checked = 0;
    for (const file of markdownFiles(DOCS)) {
      for (const { ref, target } of referencesOf(file, fs.readFileSync(file, 'utf8'), tops)) {
        checked++;
        if (!fs.existsSync(target)) missing.push(`${path.relative(ROOT, file)}: ${ref}`);
      }
    }
    assert.deepEqual(missing, []);
    assert.ok(checked > 50, `only ${checked} references found: the scan itself is broken`);
  });

  it('finds a moved path', () => {
    const tops = new Set(['controller', 'kube']);
    const refs = referencesOf(path.join(DOCS, 'x.md'), 'see `controller/kube/informer.ts`, [tls](tls.md) and `kube/<file>`', tops);
    assert.deepEqual(refs.map((r) => r.ref), ['tls.md', 'controller/kube/informer.ts']);
    assert.equal(fs.existsSync(refs[1]!.target), false);
  });
});
