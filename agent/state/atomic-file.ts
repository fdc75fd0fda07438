// Replace a file atomically: write a temporary file beside it, fsync, rename
// over it, fsync the directory. A crash leaves the old file or the new one,
// never half of one. The agent's stores (bans, signature rules) write through
// this; each keeps its writes in order itself.

import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The prefix of a temporary file of `path`: what a store deletes at load when a crash left one. */
export function tempPrefix(path: string): string {
  return `${path}.tmp-`;
}

export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temp = `${tempPrefix(path)}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  // The rename itself is only durable once the directory is synced.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
