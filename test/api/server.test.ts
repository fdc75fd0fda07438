import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createAgentApi } from '../../agent/api/app.js';
import { InsecureBindError, isLoopbackHost, startAgentServer } from '../../agent/api/server.js';
import { capturingLogger, FakeAnalyzer, RecordingBanService, TOKEN } from './helpers.js';

function app(token?: string) {
  return createAgentApi({
    analyzer: new FakeAnalyzer(),
    bans: new RecordingBanService(),
    logger: capturingLogger().logger,
    registry: new Registry(),
    limits: { maxConcurrentAnalyses: 1 },
    defaultMode: 'continuous',
    ...(token === undefined ? {} : { token }),
  });
}

describe('startAgentServer binding rules', () => {
  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ['0.0.0.0', '::', '', '10.0.0.1', '128.0.0.1', 'example.com', '::2', 'localhost.evil.com']) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });

  it('refuses 0.0.0.0 and :: without a token, with a clear error', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1']) {
      await assert.rejects(
        startAgentServer({ app: app(), host, port: 0 }),
        (err: unknown) =>
          err instanceof InsecureBindError && /no API token is configured/.test(err.message) && err.message.includes(host),
      );
    }
  });

  it('refuses a non-loopback host when the app itself has no token, even if the server is given one', async () => {
    await assert.rejects(startAgentServer({ app: app(), host: '0.0.0.0', port: 0, token: TOKEN }), InsecureBindError);
  });

  it('binds 0.0.0.0 with a token', async () => {
    const server = await startAgentServer({ app: app(TOKEN), host: '0.0.0.0', port: 0, token: TOKEN });
    try {
      assert.equal(server.address, '0.0.0.0');
      const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      await server.close();
    }
  });

  it('defaults to 127.0.0.1 and reports the bound port and URL', async () => {
    const server = await startAgentServer({ app: app(), port: 0 });
    try {
      assert.equal(server.address, '127.0.0.1');
      assert.ok(server.port > 0);
      assert.equal(server.url, `http://127.0.0.1:${server.port}`);
      assert.equal((await fetch(`${server.url}/v1/blocks`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('reports a port in use as an error', async () => {
    const first = await startAgentServer({ app: app(), port: 0 });
    try {
      await assert.rejects(startAgentServer({ app: app(), port: first.port }), /cannot listen on 127\.0\.0\.1/);
    } finally {
      await first.close();
    }
  });

  it('rejects an invalid port', async () => {
    await assert.rejects(startAgentServer({ app: app(), port: 70000 }), RangeError);
  });
});

describe('startAgentServer with TLS', () => {
  let dir: string;
  let certFile: string;
  let keyFile: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'floodgate-api-tls-'));
    certFile = path.join(dir, 'cert.pem');
    keyFile = path.join(dir, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', keyFile, '-out', certFile],
      { stdio: 'ignore' },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function get(url: string, ca: Buffer, token?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = https.get(url, { ca, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
  }

  it('serves HTTPS with the given certificate and key', async () => {
    const server = await startAgentServer({ app: app(TOKEN), port: 0, token: TOKEN, tls: { certFile, keyFile } });
    try {
      assert.equal(server.url, `https://127.0.0.1:${server.port}`);
      const ca = readFileSync(certFile);
      assert.deepEqual(await get(`${server.url}/healthz`, ca), { status: 200, body: '{"status":"ok"}' });
      assert.equal((await get(`${server.url}/v1/blocks`, ca)).status, 401);
      assert.equal((await get(`${server.url}/v1/blocks`, ca, TOKEN)).status, 200);
      // Plain HTTP on the TLS port gets nothing useful.
      await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
    } finally {
      await server.close();
    }
  });

  it('names the unreadable file', async () => {
    await assert.rejects(
      startAgentServer({ app: app(), port: 0, tls: { certFile: path.join(dir, 'missing.pem'), keyFile } }),
      /cannot read TLS certificate .*missing\.pem/,
    );
  });
});
