// Removes compiled files under dist/ whose TypeScript source is gone (moved or
// deleted), before tsc writes the rest: tsc never deletes, and the test command
// runs every dist/**/*.test.js, so a moved test would otherwise run twice, the
// stale copy from its old place.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dist = path.join(root, 'dist');
let removed = 0;
if (fs.existsSync(dist)) {
  for (const rel of fs.readdirSync(dist, { recursive: true })) {
    const m = /^(.*)\.js(\.map)?$/.exec(String(rel));
    if (!m) continue;
    if (fs.existsSync(path.join(root, `${m[1]}.ts`))) continue;
    fs.rmSync(path.join(dist, String(rel)));
    removed++;
  }
}
if (removed) console.log(`prune-dist: removed ${removed} compiled file(s) whose source is gone`);
