// The agent wire contract (api/agent/v1) from both ends:
//   - the real agent (`floodgate agent` on loopback, dry-run firewall) answers
//     every route in a shape the contract's response schemas accept, through
//     the one client;
//   - hostile "agents" (plain HTTP servers) that answer {}, garbage, a
//     redirect, an endless body, or a control-character error get one clear
//     AgentApiError each, of kind invalid, and nothing reaches the caller;
//   - URLs that are not http(s)://host[:port], or whose host is an address no
//     agent may have, are refused before any connection is made;
//   - a request body the contract refuses is never sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentApiClient, AgentApiError, AgentUrlError, agentBaseUrl, forbiddenAgentAddress, RESPONSE_LIMITS } from '../../api/agent/v1/client.js';
import { triggerDefenseResponseSchema } from '../../api/agent/v1/responses.js';
import { recordingServer } from '../support/http-recorder.js';
import { isRoot } from '../support/netns.js';
import { startAgent, type RunningAgent } from '../controller/e2e-env.js';

const hostile = recordingServer;

async function rejectsWith(p: Promise<unknown>, kind: AgentApiError['kind'], message?: RegExp): Promise<AgentApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AgentApiError, `expected an AgentApiError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (message) assert.match(err.message, message);
    assert.ok(!/[\r\n]/.test(err.message), 'one line');
    return err;
  }
  assert.fail(`expected a ${kind} failure`);
}

/** Every call of the client, each with a valid request. */
function everyCall(c: AgentApiClient): [string, () => Promise<unknown>][] {
  return [
    ['healthz', () => c.healthz()],
    ['readyz', () => c.readyz()],
    ['analyze', () => c.analyze({ windowSeconds: 1, mode: 'continuous' })],
    ['traffic', () => c.traffic(10)],
    ['talkers', () => c.talkers(7, 5)],
    ['attacks', () => c.attacks()],
    ['listBlocks', () => c.listBlocks()],
    ['listBlocksSince', () => c.listBlocksSince('abc.1')],
    ['block', () => c.block({ ip: '203.0.113.5', durationSeconds: 60, reason: 'contract test' })],
    ['blockMany', () => c.blockMany([{ ip: '203.0.113.6', durationSeconds: 60, reason: 'contract test' }])],
    ['unblock', () => c.unblock('203.0.113.5')],
    ['unblockAll', () => c.unblockAll()],
  ];
}

describe('the real agent answers in the contract\'s shapes', { skip: isRoot() ? false : 'needs root to capture on lo', timeout: 60_000 }, () => {
  let agent: RunningAgent;
  before(async () => {
    agent = await startAgent('lo', 21000 + (process.pid % 20000));
  });
  after(async () => {
    await agent?.stop();
  });

  it('every route parses with its response schema', async () => {
    const c = new AgentApiClient({ url: agent.url, token: agent.token });
    assert.deepEqual(await c.healthz(), { status: 'ok' });
    assert.deepEqual(await c.readyz(), { status: 'ready' });
    const analysis = await c.analyze({ windowSeconds: 1, mode: 'continuous' });
    assert.equal(typeof analysis.verdict.underAttack, 'boolean');
    assert.ok(Array.isArray(await c.traffic(10)));
    assert.ok(Array.isArray((await c.talkers(7, 5)).talkers));
    assert.ok(Array.isArray(await c.attacks()));
    const ban = await c.block({ ip: '203.0.113.5', durationSeconds: 60, reason: 'contract test' });
    assert.equal(ban.cidr, '203.0.113.5/32');
    const batch = await c.blockMany([
      { ip: '203.0.113.6', durationSeconds: 60, reason: 'contract test' },
      { ip: '127.0.0.1', durationSeconds: 60, reason: 'never blocked' },
    ]);
    assert.equal(batch.results[0]!.ok, true);
    assert.deepEqual(batch.results[1]!.ok ? undefined : batch.results[1]!.code, 'never_block');
    const list = await c.listBlocks();
    assert.deepEqual(list.blocks.map((b) => b.cidr).sort(), ['203.0.113.5/32', '203.0.113.6/32']);
    const since = await c.listBlocksSince(list.version);
    assert.equal(since.full, false);
    assert.deepEqual(await c.unblock('203.0.113.5'), { removed: true });
    const changes = await c.listBlocksSince(list.version);
    assert.deepEqual(changes.removed, ['203.0.113.5/32']);
    assert.deepEqual(await c.unblockAll(), { removed: 1 });
    // The seed's route has no client method (the controller never calls it); its answer is still the contract's.
    const res = await fetch(`${agent.url}/trigger-defense`, { method: 'POST', headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' }, body: '{"wait_time": 1}' });
    assert.equal(triggerDefenseResponseSchema.safeParse(await res.json()).success, true);
  });

  it('a refusal comes back as one line with its kind', async () => {
    const c = new AgentApiClient({ url: agent.url, token: agent.token });
    await rejectsWith(c.block({ ip: '127.0.0.1', durationSeconds: 60, reason: 'loopback' }), 'refused', /127\.0\.0\.1/);
    await rejectsWith(new AgentApiClient({ url: agent.url, token: 'wrong-token-0123456789' }).readyz(), 'unauthorized');
  });
});

describe('hostile agents: every answer is checked before anyone sees it', () => {
  it('an agent answering {} to everything fails every call as invalid', async () => {
    const srv = await hostile((_req, res) => res.setHeader('content-type', 'application/json').end('{}'));
    try {
      const c = new AgentApiClient({ url: srv.url, token: 'x'.repeat(20) });
      for (const [name, call] of everyCall(c)) {
        const err = await rejectsWith(call(), 'invalid', /not the agent API v1/);
        assert.match(err.message, new RegExp(srv.url.replace(/[.:/]/g, '\\$&')), name);
      }
    } finally {
      await srv.close();
    }
  });

  it('an agent answering the wrong types (a ban list whose bans are not bans) fails as invalid, naming the field', async () => {
    const srv = await hostile((_req, res) =>
      res.end(JSON.stringify({ blocks: [{ cidr: '10.0.0.1/32', family: 4, reason: 'x', source: 'auto', createdAt: 'yesterday', expiresAt: 'soon', offenceCount: 1, durationSeconds: 1 }] })),
    );
    try {
      await rejectsWith(new AgentApiClient({ url: srv.url }).listBlocks(), 'invalid', /blocks\.0\.createdAt/);
    } finally {
      await srv.close();
    }
  });

  it('an agent answering garbage fails as invalid', async () => {
    const srv = await hostile((_req, res) => res.end('<html>hello</html>'));
    try {
      for (const [, call] of everyCall(new AgentApiClient({ url: srv.url }))) await rejectsWith(call(), 'invalid', /not JSON/);
    } finally {
      await srv.close();
    }
  });

  it('an endless answer is cut off at the limit, not read to the end', async () => {
    let written = 0;
    let closed = false;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const srv = await hostile((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.write('{"blocks": [');
      const pump = () => {
        while (!closed && written < 1024 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      res.on('close', () => (closed = true));
      pump();
    });
    try {
      await rejectsWith(new AgentApiClient({ url: srv.url, timeoutMs: 30_000 }).listBlocks(), 'invalid', new RegExp(`more than ${RESPONSE_LIMITS.banList} bytes`));
      // The client hung up: the server wrote the limit plus what the socket buffers held, not the gigabyte.
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(closed, 'the client closed the connection');
      assert.ok(written < RESPONSE_LIMITS.banList * 2, `server wrote ${written} bytes`);
    } finally {
      await srv.close();
    }
  });

  it('an answer declaring a length over the limit is refused before it is read', async () => {
    const srv = await hostile((_req, res) => {
      res.setHeader('content-length', String(RESPONSE_LIMITS.small + 1));
      res.write('{');
    });
    try {
      await rejectsWith(new AgentApiClient({ url: srv.url }).healthz(), 'invalid', /more than/);
    } finally {
      await srv.close();
    }
  });

  it('a redirect is not followed', async () => {
    const target = await hostile((_req, res) => res.end('{"status":"ok"}'));
    const srv = await hostile((_req, res) => res.writeHead(302, { location: `${target.url}/healthz` }).end());
    try {
      await rejectsWith(new AgentApiClient({ url: srv.url, token: 'secret-token-0123456789' }).healthz(), 'invalid', /redirect/);
      assert.deepEqual(target.requests, []);
    } finally {
      await srv.close();
      await target.close();
    }
  });

  it('an error message with control characters and no end becomes one bounded line', async () => {
    const srv = await hostile((_req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `bad\r\nInjected: header\u202e${'x'.repeat(5000)}` })));
    try {
      const err = await rejectsWith(new AgentApiClient({ url: srv.url }).unblock('10.0.0.1'), 'refused');
      assert.ok(err.message.length <= 300, `${err.message.length} chars`);
      assert.match(err.message, /^bad Injected: header/);
    } finally {
      await srv.close();
    }
  });

  it('an answer slower than the deadline times out, however it drips', async () => {
    const srv = await hostile((_req, res) => {
      res.write('{"status":');
      // never finishes
    });
    try {
      await rejectsWith(new AgentApiClient({ url: srv.url, timeoutMs: 300 }).healthz(), 'timeout');
    } finally {
      await srv.close();
    }
  });
});

describe('agent URLs', () => {
  it('only http(s)://host[:port] is an agent URL', () => {
    for (const bad of ['ftp://10.0.0.1:21', 'file:///etc/passwd', 'http://user:pw@10.0.0.1:12345', 'http://10.0.0.1:12345/admin', 'http://10.0.0.1:12345/?x=1', 'http://10.0.0.1:12345/#f', 'not a url', 'gopher://x']) {
      assert.throws(() => agentBaseUrl(bad), AgentUrlError, bad);
      assert.throws(() => new AgentApiClient({ url: bad }), AgentUrlError, bad);
    }
    for (const good of ['http://10.0.0.1:12345', 'https://agent.example:12345/', 'http://[fd00::1]:12345', 'http://host.docker.internal:12345']) {
      assert.equal(agentBaseUrl(good).pathname, '/', good);
    }
  });

  it('addresses no agent may have: unspecified, link-local (metadata), multicast, broadcast, also IPv4-mapped', () => {
    for (const a of ['0.0.0.0', '169.254.169.254', '::ffff:169.254.169.254', '[::ffff:a9fe:a9fe]', 'fe80::1', '224.0.0.1', 'ff02::1', '255.255.255.255', '::']) {
      assert.ok(forbiddenAgentAddress(a), a);
    }
    for (const a of ['127.0.0.1', '10.0.0.5', '::1', 'fd00::1', '203.0.113.9', 'agent.example']) assert.equal(forbiddenAgentAddress(a), undefined, a);
  });

  it('a forbidden host is refused before any connection (0.0.0.0 would reach this very server)', async () => {
    const srv = await hostile((_req, res) => res.end('{"status":"ok"}'));
    try {
      await rejectsWith(new AgentApiClient({ url: `http://0.0.0.0:${srv.port}`, token: 'secret-token-0123456789' }).healthz(), 'forbidden', /unspecified/);
      await rejectsWith(new AgentApiClient({ url: `http://[::ffff:169.254.169.254]:${srv.port}`, token: 'secret-token-0123456789' }).healthz(), 'forbidden', /link-local/);
      assert.deepEqual(srv.requests, []);
      // The same server at an allowed address does answer: the refusal above was the rule, not the server.
      assert.deepEqual(await new AgentApiClient({ url: `http://127.0.0.1:${srv.port}` }).healthz(), { status: 'ok' });
    } finally {
      await srv.close();
    }
  });

  it('a request body the contract refuses is never sent', async () => {
    const srv = await hostile((_req, res) => res.end('{}'));
    try {
      const c = new AgentApiClient({ url: srv.url });
      await rejectsWith(c.block({ ip: '10.0.0.0/8', durationSeconds: 60, reason: 'x' }), 'refused', /not sent.*ip: must be a single IP address/);
      await rejectsWith(c.block({ ip: '10.0.0.1', durationSeconds: 10 ** 9, reason: 'x' }), 'refused', /durationSeconds/);
      await rejectsWith(c.blockMany([{ cidr: '10.0.0.0/8', durationSeconds: 60, reason: 'line\nbreak' }]), 'refused', /reason/);
      await rejectsWith(c.analyze({ windowSeconds: 0 }), 'refused', /windowSeconds/);
      assert.deepEqual(srv.requests, []);
    } finally {
      await srv.close();
    }
  });
});
