/**
 * WorkQueue: per-key serialisation, dedup while queued/processing, retries
 * with exponential backoff, concurrency across keys, requeueAfter, shutdown.
 *
 *   node --import tsx --test test/kube/work-queue.test.ts
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { WorkQueue } from '../../kube/work-queue.js';

async function until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

describe('WorkQueue', () => {
  it('never runs one key on two workers at once, and re-runs a key added while it runs exactly once', async () => {
    const running = new Set<string>();
    let overlap = 0;
    const runs: string[] = [];
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue({
      name: 'serial',
      concurrency: 4,
      handler: async (key) => {
        if (running.has(key)) overlap++;
        running.add(key);
        runs.push(key);
        if (runs.length === 1) await gate;
        else await delay(5);
        running.delete(key);
      },
    });
    q.add('a');
    await until(() => runs.length === 1, 1000, 'first run');
    // While "a" is being handled: five more adds of "a" -> one more run.
    for (let i = 0; i < 5; i++) q.add('a');
    assert.equal(q.length, 0, 'a key being processed is not queued a second time');
    assert.equal(q.inFlight, 1);
    release();
    await until(() => runs.length === 2, 1000, 'second run');
    await q.idle();
    await delay(30);
    assert.deepEqual(runs, ['a', 'a']);
    assert.equal(overlap, 0);
    gate = Promise.resolve();
    await q.shutDown();
  });

  it('dedups a key that is already waiting', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue({
      name: 'dedup',
      concurrency: 1,
      handler: async (key) => {
        runs.push(key);
        if (key === 'block') await gate;
      },
    });
    q.add('block');
    await until(() => runs.length === 1);
    q.add('x');
    q.add('y');
    q.add('x');
    q.add('y');
    q.add('x');
    assert.equal(q.length, 2);
    release();
    await q.idle();
    assert.deepEqual(runs, ['block', 'x', 'y'], 'FIFO, each waiting key once');
    await q.shutDown();
  });

  it('handles different keys concurrently, up to the concurrency limit', async () => {
    let active = 0;
    let maxActive = 0;
    const q = new WorkQueue({
      name: 'concurrent',
      concurrency: 3,
      handler: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await delay(60);
        active--;
      },
    });
    const t0 = Date.now();
    for (let i = 0; i < 9; i++) q.add(`k${i}`);
    await q.idle();
    const took = Date.now() - t0;
    assert.equal(maxActive, 3);
    // 9 keys x 60 ms on 3 workers: ~180 ms, not 540.
    assert.ok(took < 450, `took ${took} ms`);
    await q.shutDown();
  });

  it('retries a failing key with exponential backoff and resets after success', async () => {
    const times: number[] = [];
    const retriesSeen: number[] = [];
    const registry = new Registry();
    const q = new WorkQueue({
      name: 'retry',
      baseDelayMs: 40,
      maxDelayMs: 1000,
      jitter: 0,
      registry,
      handler: (key, ctx) => {
        times.push(Date.now());
        retriesSeen.push(ctx.retries);
        if (times.length <= 3) throw new Error(`boom ${key}`);
      },
    });
    q.add('k');
    await until(() => times.length === 4, 3000, 'four runs');
    await q.idle();
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // 40, 80, 160 ms (timers fire no earlier than asked).
    assert.ok((gaps[0] as number) >= 38 && (gaps[0] as number) < 140, `gaps ${gaps.join(',')}`);
    assert.ok((gaps[1] as number) >= 78 && (gaps[1] as number) < 200, `gaps ${gaps.join(',')}`);
    assert.ok((gaps[2] as number) >= 158 && (gaps[2] as number) < 330, `gaps ${gaps.join(',')}`);
    assert.deepEqual(retriesSeen, [0, 1, 2, 3]);
    assert.equal(q.numRequeues('k'), 0, 'success forgets the failures');
    const metrics = await registry.getSingleMetricAsString('floodgate_workqueue_retries_total');
    assert.match(metrics, /floodgate_workqueue_retries_total\{queue="retry"\} 3/);
    await q.shutDown();
  });

  it('does not let add() bypass a pending retry backoff (no hot loop on a failing, changing object)', async () => {
    let runs = 0;
    const q = new WorkQueue({
      name: 'nobypass',
      baseDelayMs: 200,
      jitter: 0,
      handler: () => {
        runs++;
        throw new Error('always');
      },
    });
    q.add('k');
    await until(() => runs === 1);
    for (let i = 0; i < 20; i++) {
      q.add('k');
      await delay(5);
    }
    assert.equal(runs, 1, 'adds during the backoff wait for the retry');
    await until(() => runs === 2, 1000, 'the retry');
    await q.shutDown({ drain: false });
  });

  it('gives up after maxRetries', async () => {
    let runs = 0;
    const q = new WorkQueue({
      name: 'giveup',
      baseDelayMs: 5,
      maxRetries: 2,
      handler: () => {
        runs++;
        throw new Error('nope');
      },
    });
    q.add('k');
    await delay(200);
    assert.equal(runs, 3, 'first try + 2 retries');
    assert.equal(q.pendingDelayed, 0);
    await q.shutDown();
  });

  it('requeues when the handler asks for it, and an add() before then runs at once', async () => {
    const times: number[] = [];
    const q = new WorkQueue({
      name: 'requeue',
      handler: () => {
        times.push(Date.now());
        return times.length < 3 ? { requeueAfterMs: 80 } : undefined;
      },
    });
    const t0 = Date.now();
    q.add('k');
    await until(() => times.length === 3, 2000, 'three runs');
    assert.ok((times[1] as number) - t0 >= 78, 'second run after requeueAfterMs');
    // A pending requeueAfter does not delay an explicit add.
    const q2Runs: number[] = [];
    const q2 = new WorkQueue({
      name: 'requeue2',
      handler: () => {
        q2Runs.push(Date.now());
        return { requeueAfterMs: 10_000 };
      },
    });
    q2.add('k');
    await until(() => q2Runs.length === 1);
    q2.add('k');
    await until(() => q2Runs.length === 2, 500, 'add() before the requeue');
    await q.shutDown();
    await q2.shutDown();
    assert.equal(q2.pendingDelayed, 0, 'shutDown cancels delayed adds');
  });

  it('shutDown drains queued and in-flight keys and ignores later adds', async () => {
    const done: string[] = [];
    const q = new WorkQueue({
      name: 'drain',
      concurrency: 1,
      handler: async (key) => {
        await delay(30);
        done.push(key);
      },
    });
    q.add('a');
    q.add('b');
    q.add('c');
    const p = q.shutDown();
    q.add('d');
    await p;
    assert.deepEqual(done, ['a', 'b', 'c']);
    assert.equal(q.isShuttingDown(), true);
  });

  it('shutDown without drain aborts the running handler and drops the rest', async () => {
    const started: string[] = [];
    let aborted = false;
    const q = new WorkQueue({
      name: 'nodrain',
      concurrency: 1,
      handler: async (key, ctx) => {
        started.push(key);
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        });
      },
    });
    q.add('a');
    q.add('b');
    await until(() => started.length === 1);
    await q.shutDown({ drain: false });
    assert.equal(aborted, true);
    assert.deepEqual(started, ['a']);
  });
});
