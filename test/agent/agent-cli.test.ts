// The agent as a user runs it: `floodgate agent` on loopback with the dry-run
// backend, the seed's curl against it, and `floodgate blocks` managing bans.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { isRoot } from '../support/netns.js';

const bin = fileURLToPath(new URL('../../../bin/floodgate.js', import.meta.url));
const skip = isRoot() ? false : 'needs root to capture on lo';

describe('floodgate agent + blocks CLI', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-agent-cli-'));
  const tokenFile = path.join(dir, 'token');
  const port = 20000 + (process.pid % 20000);
  const url = `http://127.0.0.1:${port}`;
  let agent: ResultPromise | undefined;
  let output = '';

  const cli = (args: string[]) =>
    execa(process.execPath, [bin, ...args, '--agent', url, '--token-file', tokenFile], { reject: false });

  before(async () => {
    fs.writeFileSync(tokenFile, 'cli-test-token-0123456789\n');
    agent = execa(process.execPath, [bin, 'agent', '-i', 'lo', '--backend', 'dry-run', '--listen', `127.0.0.1:${port}`, '--state-dir', dir, '--token-file', tokenFile], { reject: false, all: true });
    agent.all!.on('data', (d: Buffer) => (output += String(d)));
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${url}/readyz`, { headers: { authorization: 'Bearer cli-test-token-0123456789' } }).catch(() => undefined);
      if (r?.status === 200) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`agent did not become ready:\n${output}`);
  });

  after(async () => {
    agent?.kill('SIGTERM');
    await agent;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers the seed's curl on /trigger-defense (with the token)", async () => {
    const r = await execa('curl', ['-s', '-X', 'POST', `${url}/trigger-defense`, '-H', 'Content-Type: application/json',
      '-H', 'Authorization: Bearer cli-test-token-0123456789', '-d', '{"wait_time": 1, "thresholdAttacker": 0.2, "ban_duration": 60}']);
    const body = JSON.parse(String(r.stdout)) as { under_attack: boolean; ip: string | null; ip_counts: Record<string, number> };
    assert.equal(body.under_attack, false);
    assert.equal(body.ip, null);
    assert.equal(typeof body.ip_counts, 'object');
  });

  it('refuses the seed curl without the token', async () => {
    const r = await execa('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `${url}/trigger-defense`]);
    assert.equal(String(r.stdout), '401');
  });

  it('blocks add / list / rm round-trip, idempotent', async () => {
    const add = await cli(['blocks', 'add', '203.0.113.9', '--duration', '120', '--reason', 'cli test']);
    assert.equal(add.exitCode, 0, String(add.stderr));
    assert.match(String(add.stdout), /blocked 203\.0\.113\.9\/32 until/);
    const list = await cli(['blocks', 'list']);
    assert.match(String(list.stdout), /203\.0\.113\.9\/32\s+\S+\s+api\s+manual\s+1\s+cli test/);
    const json = JSON.parse(String((await cli(['blocks', 'list', '--json'])).stdout)) as { blocks: { cidr: string }[] };
    assert.deepEqual(json.blocks.map((b) => b.cidr), ['203.0.113.9/32']);
    assert.match(String((await cli(['blocks', 'rm', '203.0.113.9'])).stdout), /unblocked 203\.0\.113\.9/);
    assert.match(String((await cli(['blocks', 'rm', '203.0.113.9'])).stdout), /was not blocked/);
    assert.match(String((await cli(['blocks', 'list'])).stdout), /no active blocks/);

    for (const ip of ['203.0.113.10', '203.0.113.11']) assert.equal((await cli(['blocks', 'add', ip])).exitCode, 0);
    for (const args of [['blocks', 'rm'], ['blocks', 'rm', '203.0.113.10', '--all']]) {
      const bad = await cli(args);
      assert.equal(bad.exitCode, 2, args.join(' '));
      assert.match(String(bad.stderr).trim(), /^floodgate: blocks rm: give an address or CIDR, or --all \(not both\)$/);
    }
    assert.match(String((await cli(['blocks', 'rm', '--all'])).stdout), /^unblocked 2 ban\(s\)$/m);
    assert.match(String((await cli(['blocks', 'list'])).stdout), /no active blocks/);
  });

  it('refuses to block loopback with a one-line reason', async () => {
    const r = await cli(['blocks', 'add', '127.0.0.1']);
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr).trim(), /^floodgate: agent refused: .*loopback/);
  });

  it('a wrong token is a clear error', async () => {
    const bad = path.join(dir, 'bad-token');
    fs.writeFileSync(bad, 'not-the-right-token-000\n');
    const r = await execa(process.execPath, [bin, 'blocks', 'list', '--agent', url, '--token-file', bad], { reject: false });
    assert.equal(r.exitCode, 1);
    assert.match(String(r.stderr), /rejected the token.*--token-file/);
  });
});

describe('floodgate agent refuses an unsafe bind', { skip }, () => {
  it('without a token it will not listen beyond loopback', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-agent-bind-'));
    const r = await execa(process.execPath, [bin, 'agent', '-i', 'lo', '--backend', 'dry-run', '--listen', '0.0.0.0:0', '--state-dir', dir], {
      reject: false,
      env: { FLOODGATE_TOKEN: '' },
      timeout: 20_000,
    });
    fs.rmSync(dir, { recursive: true, force: true });
    assert.notEqual(r.exitCode, 0);
    assert.match(String(r.stderr), /floodgate: .*(token|loopback)/i);
  });
});
