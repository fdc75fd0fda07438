// `floodgate controller` must not load @kubernetes/client-node (importing its
// KubeConfig loads all 826 of its modules, ~21 MB of source text the process
// keeps for its whole life). Two checks:
//   - statically: the import graph of the controller command (static imports
//     and literal dynamic imports) never reaches client-node;
//   - at run time: the real CLI process, with a module hook recording every
//     module it resolves, runs against a real API server until it leads and
//     its informers are synced, and never resolves a client-node module.
//
//   FLOODGATE_CP_MODULES_STATE_DIR (default /tmp/floodgate-cp-modules): its API server's state dir.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { ControlPlane } from '../control-plane/control-plane.js';
import { moduleSpecifiers } from '../support/imports.js';
import { eventually, startApiServerWithCrds, stopApiServer } from './e2e-env.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST = path.join(ROOT, 'dist');
const CLIENT_NODE = `${path.sep}node_modules${path.sep}@kubernetes${path.sep}client-node${path.sep}`;
const STATE_DIR = process.env.FLOODGATE_CP_MODULES_STATE_DIR || '/tmp/floodgate-cp-modules';

/** Specifiers a compiled module imports: static imports/exports (not `import type`: tsc erased those) and literal dynamic imports. */
function importsOf(file: string): string[] {
  return moduleSpecifiers(fs.readFileSync(file, 'utf8'));
}

/** Every file reachable from the entries; bare specifiers are resolved like Node does, then followed too. */
function moduleGraph(entries: string[]): { files: Set<string>; parents: Map<string, string> } {
  const files = new Set<string>();
  const parents = new Map<string, string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    if (!/\.(m|c)?js$/.test(file)) continue;
    for (const spec of importsOf(file)) {
      if (spec.startsWith('node:')) continue;
      let resolved: string;
      try {
        resolved = spec.startsWith('.') ? path.resolve(path.dirname(file), spec) : fileURLToPath(import.meta.resolve(spec, pathToFileURL(file).href));
      } catch {
        try {
          resolved = createRequire(file).resolve(spec);
        } catch {
          continue; // a builtin without node: or an optional dependency
        }
      }
      if (!resolved.startsWith('/') || files.has(resolved)) continue;
      if (!parents.has(resolved)) parents.set(resolved, file);
      queue.push(resolved);
    }
  }
  return { files, parents };
}

function chain(parents: Map<string, string>, file: string): string {
  const out = [file];
  let f = file;
  while (parents.has(f)) {
    f = parents.get(f)!;
    out.push(f);
  }
  return out.reverse().map((x) => path.relative(ROOT, x)).join(' -> ');
}

describe('floodgate controller does not load @kubernetes/client-node', { timeout: 240_000 }, () => {
  it('its import graph never reaches client-node (and the check does see client-node where it is imported)', () => {
    const { files, parents } = moduleGraph([path.join(DIST, 'cli', 'controller-command.js'), path.join(DIST, 'controller', 'controller.js')]);
    assert.ok(files.has(path.join(DIST, 'kube', 'rest-client.js')), 'the walk follows the controller\'s imports');
    assert.ok([...files].some((f) => f.includes(`${path.sep}node_modules${path.sep}pino${path.sep}`)), 'the walk follows packages');
    const offenders = [...files].filter((f) => f.includes(CLIENT_NODE));
    assert.deepEqual(offenders.map((f) => chain(parents, f)).slice(0, 3), []);
    // The same walk from a test helper that does import client-node finds it.
    const helper = moduleGraph([path.join(DIST, 'test', 'crds', 'helpers.js')]);
    assert.ok([...helper.files].some((f) => f.includes(CLIENT_NODE)), 'the walk would have seen client-node');
  });

  it('is a devDependency (types and tests only): images install without it (docs/adr/0001-kubernetes-client.md)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    assert.equal(pkg.dependencies['@kubernetes/client-node'], undefined);
    assert.ok(pkg.devDependencies['@kubernetes/client-node']);
  });

  describe('at run time, against a real API server', () => {
    let cp: ControlPlane;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-modules-'));
    before(async () => {
      cp = await startApiServerWithCrds(STATE_DIR);
    });
    after(async () => {
      if (cp) await stopApiServer(STATE_DIR);
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('the CLI process resolves no client-node module while it leads, lists and watches', async () => {
      const record = path.join(tmp, 'resolved.txt');
      fs.writeFileSync(path.join(tmp, 'hooks.mjs'), `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(record)}, r.url + '\\n');
  return r;
}
`);
      fs.writeFileSync(path.join(tmp, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(tmp, 'hooks.mjs')).href)});\n`);
      const probePort = 20000 + (process.pid % 5000);
      const child = execa(
        process.execPath,
        ['--import', pathToFileURL(path.join(tmp, 'register.mjs')).href, path.join(ROOT, 'bin', 'floodgate.js'), 'controller', '--kubeconfig', cp.kubeconfig, '--lease-namespace', 'default', '--probe-port', String(probePort), '--dashboard-port', '0', '--memory-sources', 'cgroup', '--log-level', 'warn'],
        { reject: false, all: true, env: { KUBECONFIG: '' } },
      );
      let log = '';
      child.all!.on('data', (d: Buffer) => (log += String(d)));
      try {
        await eventually('the controller leads with synced informers', async () => {
          const ready = await fetch(`http://127.0.0.1:${probePort}/readyz`).catch(() => undefined);
          const leader = await fetch(`http://127.0.0.1:${probePort}/leader`).then((r) => r.json() as Promise<{ self: boolean }>).catch(() => undefined);
          return ready?.status === 200 && leader?.self === true;
        }, 60_000);
      } catch (err) {
        throw new Error(`${(err as Error).message}\ncontroller log:\n${log}`);
      } finally {
        child.kill('SIGTERM');
        await child;
      }
      const resolved = fs.readFileSync(record, 'utf8').split('\n').filter(Boolean);
      assert.ok(resolved.some((u) => u.endsWith('/dist/kube/rest-client.js')), 'the hook saw the controller\'s modules');
      assert.deepEqual(resolved.filter((u) => u.includes('/@kubernetes/client-node/')), []);
    });
  });
});
