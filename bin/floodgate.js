#!/usr/bin/env node
// Entry point for `npx floodgate`: runs the compiled CLI (built by `npm ci` via the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('floodgate: not built yet; run "npm run build" (needs libpcap-dev for the native engine)');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
