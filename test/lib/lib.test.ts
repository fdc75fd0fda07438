// lib/: the helpers the agent and the controller share.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { Backoff, backoffDelay } from '../../lib/backoff.js';
import { CidrMatcher, isLoopbackAddress } from '../../lib/cidr-match.js';
import { counter, gauge, histogram } from '../../lib/metrics.js';

describe('lib/cidr-match', () => {
  it('matches hosts, IPv4 and IPv6 networks, and IPv4-mapped forms both ways', () => {
    const m = new CidrMatcher(['203.0.113.7', '198.51.100.0/24', '2001:db8:1::/64', '::ffff:10.0.0.0/104']);
    for (const yes of ['203.0.113.7', '198.51.100.200', '2001:db8:1::5', '10.9.8.7', '::ffff:203.0.113.7', '::ffff:c633:64c8', '198.51.100.9/32']) {
      assert.equal(m.has(yes), true, yes);
    }
    for (const no of ['203.0.113.8', '198.51.101.1', '2001:db8:2::5', '11.0.0.1', 'not-an-ip', '', '::ffff:11.0.0.1']) {
      assert.equal(m.has(no), false, no);
    }
  });

  it('reports entries it cannot use instead of matching them', () => {
    const m = new CidrMatcher(['10.0.0.0/33', 'x', '10.0.0.0/08', '192.0.2.0/24']);
    assert.deepEqual(m.rejected, ['10.0.0.0/33', 'x', '10.0.0.0/08']);
    assert.equal(m.has('192.0.2.1'), true);
    assert.equal(m.has('10.0.0.1'), false);
  });

  it('knows loopback in every form, and nothing else', () => {
    for (const h of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackAddress(h), true, h);
    for (const h of ['10.0.0.1', '::2', 'localhost', '127.0.0.1/8', '[127.0.0.1']) assert.equal(isLoopbackAddress(h), false, h);
  });
});

describe('lib/metrics', () => {
  it('creates a metric once and hands the same one back', () => {
    const registry = new Registry();
    const a = counter(registry, { name: 'x_total', help: 'x', labelNames: ['k'] });
    const b = counter(registry, { name: 'x_total', help: 'x', labelNames: ['k'] });
    assert.equal(a, b);
    assert.ok(a instanceof Counter);
    assert.equal(gauge(registry, { name: 'g', help: 'g' }), gauge(registry, { name: 'g', help: 'g' }));
    assert.equal(histogram(registry, { name: 'h', help: 'h' }), histogram(registry, { name: 'h', help: 'h' }));
  });

  it('refuses a name already taken by a metric of another type', () => {
    const registry = new Registry();
    counter(registry, { name: 'taken', help: 't' });
    assert.throws(() => gauge(registry, { name: 'taken', help: 't' }), /already registered with another type/);
  });
});

describe('lib/backoff', () => {
  it('grows by the factor to the ceiling, jittered within bounds, and resets', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000]);
    b.reset();
    assert.equal(b.next(), 100);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, { initialMs: 100, maxMs: 10_000, jitter: 0.5 });
      assert.ok(d >= 400 && d <= 1200, String(d));
    }
    assert.equal(backoffDelay(5000, { initialMs: 250, maxMs: 60_000, jitter: 0 }), 60_000);
  });
});
