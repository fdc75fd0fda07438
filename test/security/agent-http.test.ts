// Issue 13.6 and 13.8 against the real agent process (`floodgate agent` on lo,
// dry-run backend; needs root for the capture):
//   - without a token, a DNS-rebinding page (Host: its own name) gets nothing,
//     and cannot unban everything;
//   - a CORS-simple POST (text/plain, a form, no Content-Type) cannot trigger
//     a defense or a ban: 415;
//   - a client that never finishes its headers is cut off, connections beyond
//     the cap are refused, and a slow analysis is still answered;
//   - a flood of wrong tokens is one warning line, not two per request.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isRoot } from '../support/netns.js';
import { AGENT_TOKEN, type RealAgent, startRealAgent } from './real-agent.js';

const skip = isRoot() ? false : 'needs root to capture on lo';

/** Resolves when the server closes the socket, with what it sent first. */
function untilClosed(socket: net.Socket, limitMs: number): Promise<{ closedByServer: boolean; data: string }> {
  return new Promise((resolve) => {
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedByServer: false, data });
    }, limitMs);
    socket.on('data', (d) => (data += String(d)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedByServer: true, data });
    });
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('agent without a token: loopback Host names only, no CORS-simple writes (real agent)', { skip }, () => {
  let agent: RealAgent;
  before(async () => {
    agent = await startRealAgent({ token: false });
  });
  after(() => agent.stop());

  it('a DNS-rebinding request (Host: evil.example) is refused and cannot unban everything', async () => {
    const ban = await agent.curl(['-X', 'POST', `${agent.url}/v1/blocks`, '-H', 'Content-Type: application/json', '-d', '{"ip":"203.0.113.7","durationSeconds":600,"reason":"t"}']);
    assert.equal(ban.status, 201, ban.body);
    for (const host of ['evil.example', `evil.example:${agent.port}`, 'rebind.attacker.test:80', `127.0.0.1.nip.io:${agent.port}`]) {
      const read = await agent.curl(['-H', `Host: ${host}`, `${agent.url}/v1/blocks`]);
      assert.equal(read.status, 403, `${host}: ${read.body}`);
      assert.doesNotMatch(read.body, /203\.0\.113\.7/);
      assert.match(read.body, /Host refused/);
      const wipe = await agent.curl(['-X', 'DELETE', '-H', `Host: ${host}`, `${agent.url}/v1/blocks?all=true`]);
      assert.equal(wipe.status, 403, wipe.body);
    }
    for (const host of [`127.0.0.1:${agent.port}`, `localhost:${agent.port}`, 'localhost', '127.0.0.1', '[::1]:1']) {
      const r = await agent.curl(['-H', `Host: ${host}`, `${agent.url}/v1/blocks`]);
      assert.equal(r.status, 200, `${host}: ${r.body}`);
      assert.match(r.body, /203\.0\.113\.7/, 'the ban is still there');
    }
  });

  it('a CORS-simple POST /trigger-defense or /v1/blocks (text/plain, form, none) is refused with 415 and bans nothing', async () => {
    const before = (await agent.curl([`${agent.url}/v1/blocks`])).body;
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const headers = type === undefined ? [] : ['-H', `Content-Type: ${type}`];
      const trigger = await agent.curl(['-X', 'POST', ...headers, '-d', '{"wait_time": 1}', `${agent.url}/trigger-defense`]);
      assert.equal(trigger.status, 415, `${type}: ${trigger.body}`);
      const bare = await agent.curl(['-X', 'POST', ...headers, `${agent.url}/trigger-defense`]);
      assert.equal(bare.status, 415, `${type} (no body): ${bare.body}`);
      const block = await agent.curl(['-X', 'POST', ...headers, '-d', '{"ip":"198.51.100.9","durationSeconds":60,"reason":"x"}', `${agent.url}/v1/blocks`]);
      assert.equal(block.status, 415, block.body);
    }
    assert.equal((await agent.curl([`${agent.url}/v1/blocks`])).body, before, 'nothing was banned');
    assert.ok(!agent.output().includes('trigger-defense completed'), 'no defense ran');
    // The seed's own curl (it declares JSON) still works.
    const seed = await agent.curl(['-X', 'POST', `${agent.url}/trigger-defense`, '-H', 'Content-Type: application/json', '-d', '{"wait_time": 1, "thresholdAttacker": 0.2, "ban_duration": 60}']);
    assert.equal(seed.status, 200, seed.body);
    assert.match(seed.body, /"under_attack":false/);
  });
});

describe('agent server limits and failed tokens (real agent)', { skip }, () => {
  let agent: RealAgent;
  before(async () => {
    agent = await startRealAgent({ config: { api: { maxConnections: 3, headersTimeoutSeconds: 1, requestTimeoutSeconds: 1 } } });
  });
  after(() => agent.stop());

  it('cuts off a client that never finishes its request headers (slowloris)', async () => {
    const s = await connect(agent.port);
    s.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `);
    // Well beyond the 1 s limit and Node's check interval; before the fix Node waited 60 s + up to 30 s.
    const r = await untilClosed(s, 15_000);
    assert.equal(r.closedByServer, true, 'the server closed the connection');
    assert.match(r.data, /^HTTP\/1\.1 408/);
  });

  it('refuses connections beyond maxConnections, and serves again once they close', async () => {
    const held = await Promise.all([1, 2, 3].map(() => connect(agent.port)));
    try {
      const extra = await connect(agent.port);
      extra.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      const r = await untilClosed(extra, 5000);
      assert.equal(r.closedByServer, true);
      assert.equal(r.data, '', 'closed without an answer');
    } finally {
      for (const s of held) s.destroy();
    }
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await agent.curl([`${agent.url}/healthz`])).status === 200;
      if (!ok) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(ok, 'served again');
    assert.ok(agent.lines().some((l) => l.msg === 'agent API: connection refused, too many open connections'), agent.output());
  });

  it('answers a window analysis that takes longer than the request timeout (the limit is on receiving, not answering)', async () => {
    const r = await agent.curl(['-X', 'POST', `${agent.url}/v1/analyze`, '-H', `Authorization: Bearer ${AGENT_TOKEN}`, '-H', 'Content-Type: application/json', '-d', '{"windowSeconds": 2, "mode": "window"}']);
    assert.equal(r.status, 200, r.body);
  });

  it('a flood of wrong tokens is one warning line, not two per request', async () => {
    const before = agent.lines().length;
    for (let i = 0; i < 20; i++) {
      const r = await agent.curl(['-H', `Authorization: Bearer wrong-token-${i}-xxxxxxxxxxxx`, `${agent.url}/v1/blocks`]);
      assert.equal(r.status, 401);
    }
    await new Promise((res) => setTimeout(res, 200)); // the last request's log line
    const lines = agent.lines().slice(before);
    const warnings = lines.filter((l) => l.level >= 40);
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]?.msg, 'agent API: invalid bearer token');
    assert.equal(lines.filter((l) => l.msg === 'request completed').length, 20, 'each request is still logged (info)');
  });
});
