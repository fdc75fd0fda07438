// CLI: regenerate the committed link fixtures and their manifest.
//   npx tsx test/gen/write-fixtures.ts [--out DIR] [--only FILE]
// --only writes just that capture (name with or without extension); the
// manifest is always rewritten in full since it is cheap and must stay whole.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readFlag } from './cli-args.js';
import { buildLinkFixtures, writeLinkFixture, writeManifest } from './link-fixtures.js';
import { committedFixtureDir } from './repo-root.js';

function main(argv: string[]): void {
  const out = resolve(readFlag(argv, 'out') ?? committedFixtureDir());
  const only = readFlag(argv, 'only');
  const fixtures = buildLinkFixtures();
  const selected = only === undefined ? fixtures : fixtures.filter((f) => f.file === only || f.file.replace(/\.pcap(ng)?$/, '') === only);
  if (selected.length === 0) throw new Error(`no fixture named ${only}; known: ${fixtures.map((f) => f.file).join(', ')}`);
  mkdirSync(out, { recursive: true });
  for (const f of selected) {
    writeLinkFixture(f, out);
    process.stderr.write(`wrote ${join(out, f.file)} (${f.packets.length} packets)\n`);
  }
  process.stderr.write(`wrote ${writeManifest(fixtures, out)}\n`);
}

main(process.argv.slice(2));
