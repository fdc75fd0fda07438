// Backend auto-detection: real probes inside a namespace, plus injected
// PATH/exec answers for the machines we do not have (macOS, no nft).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CommandExecutor } from '../../agent/firewall/exec.js';
import { selectBackend } from '../../agent/firewall/select-backend.js';
import { createNetns, type TestNetns } from './netns.js';

/** An executor where every command named in `failing` exits 1. */
function scripted(failing: string[]): CommandExecutor {
  return async (argv) => {
    const fails = failing.includes(argv[0] ?? '');
    return { stdout: '', stderr: fails ? `${argv[0]}: Operation not permitted` : '', exitCode: fails ? 1 : 0 };
  };
}
const onPathOnly = (present: string[]) => async (binary: string) => present.includes(binary);

describe('selectBackend', () => {
  let ns: TestNetns;
  before(async () => {
    ns = await createNetns('select');
  });
  after(async () => {
    await ns.destroy();
  });

  it('picks nft on this machine, and the chosen backend works', async () => {
    const { backend, reasons } = await selectBackend({ exec: ns.exec });
    assert.equal(backend.name, 'nft', reasons.join('; '));
    await backend.init();
    await backend.add([{ cidr: '198.51.100.7', family: 4, timeoutSeconds: 60 }]);
    assert.deepEqual((await backend.list()).map((e) => e.cidr), ['198.51.100.7/32']);
    await backend.teardown();
  });

  it('falls back to iptables+ipset when nft is installed but does not answer', async () => {
    const { backend, reasons } = await selectBackend({
      exec: scripted(['nft']),
      onPath: onPathOnly(['nft', 'iptables', 'ip6tables', 'ipset']),
      platform: 'linux',
    });
    assert.equal(backend.name, 'iptables');
    assert.match(reasons.join('\n'), /nft: 'nft list tables' failed: nft: Operation not permitted/);
  });

  it('uses pf on macOS', async () => {
    const { backend } = await selectBackend({ exec: scripted([]), onPath: onPathOnly(['pfctl']), platform: 'darwin' });
    assert.equal(backend.name, 'pf');
  });

  it('explains why when nothing works', async () => {
    await assert.rejects(
      selectBackend({ exec: scripted(['ipset']), onPath: onPathOnly(['iptables', 'ip6tables', 'ipset']), platform: 'linux' }),
      /no usable firewall backend \(nft: not on PATH; iptables: probe failed: ipset: Operation not permitted; pf: only on macOS/,
    );
  });

  it('a configured name wins over detection', async () => {
    const { backend } = await selectBackend({ name: 'dry-run', onPath: onPathOnly([]) });
    assert.equal(backend.name, 'dry-run');
  });
});
