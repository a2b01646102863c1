/**
 * withLease and processTasks (src/coord/helpers.ts) against the in-memory client, in virtual time:
 * each test states the rule it protects — work stops the moment what it holds is lost, every task
 * is completed once, a failing task goes back to its queue.
 */
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/json.js';
import { ClaimLostError, LeaseLostError, processTasks, withLease } from '../../src/coord/helpers.js';
import type { TaskClaim } from '../../src/coord/types.js';
import { LeaseHeldError, NotFoundError, NotLeaderError, StaleTokenError } from '../../src/errors.js';
import { FakeCoordClient } from '../coord/fake-client.js';
import { advance, advanceUntil, VirtualClock } from '../coord/virtual-time.js';

function setup() {
  const clock = new VirtualClock();
  const client = new FakeCoordClient(() => clock.now());
  return { clock, client };
}

/** Resolves when `signal` aborts, with its reason; rejects with it when `reject` (as work that honours the signal does). */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true }));
}

describe('withLease', () => {
  it('renews the lease while fn runs (longer than its TTL), then releases it', async () => {
    const { clock, client } = setup();
    let signal: AbortSignal | undefined;
    const done = withLease(client, 'migrate', { holder: 'a', ttlMs: 300, timers: clock }, async (lease) => {
      signal = lease.signal;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 2000));
      return lease.token;
    });
    await advance(clock, 2100);
    const token = await done;
    expect(signal?.aborted).toBe(false);
    expect(client.calls.filter((c) => c.startsWith('leases.renew')).length).toBeGreaterThanOrEqual(6);
    expect(client.calls).toContain(`leases.release migrate ${token}`);
    expect(await client.leases.get('migrate')).toBeUndefined();
  });

  it('refuses with LeaseHeldError while someone else holds the lease, without calling fn', async () => {
    const { clock, client } = setup();
    await client.leases.acquire('migrate', { holder: 'b', ttlMs: 1000 });
    let called = false;
    await expect(withLease(client, 'migrate', { holder: 'a', ttlMs: 300, timers: clock }, async () => (called = true))).rejects.toBeInstanceOf(LeaseHeldError);
    expect(called).toBe(false);
  });

  it("a renewal refused as stale aborts fn's signal with LeaseLostError, and withLease rejects with it", async () => {
    const { clock, client } = setup();
    let reason: unknown;
    const done = withLease(client, 'migrate', { holder: 'a', ttlMs: 300, timers: clock }, async (lease) => {
      // Someone else takes over the lease (an operator released it, and b acquired it).
      await client.leases.release('migrate', lease.token);
      await client.leases.acquire('migrate', { holder: 'b', ttlMs: 10_000 });
      lease.signal.addEventListener('abort', () => (reason = lease.signal.reason));
      return untilAborted(lease.signal);
    });
    const outcome = done.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await advance(clock, 200);
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect((reason as LeaseLostError).cause).toBeInstanceOf(StaleTokenError);
    expect(await outcome).toBe(reason);
    // The release was refused as stale and ignored; b still holds the lease.
    expect((await client.leases.get('migrate'))?.holder).toBe('b');
  });

  it("a lease that could not be renewed before its TTL ran out aborts fn's signal (lost), before anyone else can hold it", async () => {
    const { clock, client } = setup();
    let abortedAt: number | undefined;
    const done = withLease(client, 'migrate', { holder: 'a', ttlMs: 300, timers: clock }, async (lease) => {
      // From now on every renewal fails without an answer about the lease (no leader).
      client.faults.set('leases.renew', () => new NotLeaderError(undefined));
      lease.signal.addEventListener('abort', () => (abortedAt = clock.now()));
      return untilAborted(lease.signal);
    });
    const outcome = done.catch((error: unknown) => error);
    await advance(clock, 299);
    expect(abortedAt).toBeUndefined();
    await advance(clock, 1);
    // Lost no later than the lease's own expiry (the cluster's `expiresAt`, 300 here).
    expect(abortedAt).toBe(300);
    const error = await outcome;
    expect(error).toBeInstanceOf(LeaseLostError);
    expect((error as LeaseLostError).cause).toBeUndefined();
  });

  it("fn's signal aborts with the caller's reason when the caller's signal aborts", async () => {
    const { clock, client } = setup();
    const caller = new AbortController();
    const done = withLease(client, 'migrate', { holder: 'a', ttlMs: 300, timers: clock, signal: caller.signal }, (lease) => untilAborted(lease.signal));
    await advance(clock, 50);
    caller.abort(new Error('shutting down'));
    await expect(done).rejects.toThrow('shutting down');
    expect(await client.leases.get('migrate')).toBeUndefined();
  });
});

describe('withLease, the caller giving up', () => {
  it('does not start fn when the caller aborted while the lease was being acquired, and hands the lease back', async () => {
    const { clock, client } = setup();
    const caller = new AbortController();
    const acquire = client.leases.acquire.bind(client.leases);
    client.leases.acquire = async (...args) => {
      const grant = await acquire(...args);
      caller.abort(new Error('the agent is shutting down'));
      return grant;
    };
    let called = false;
    await expect(withLease(client, 'migrate', { holder: 'a', ttlMs: 300, timers: clock, signal: caller.signal }, async () => (called = true))).rejects.toThrow(
      'the agent is shutting down',
    );
    expect(called).toBe(false);
    expect(await client.leases.get('migrate')).toBeUndefined();
  });
});

describe('processTasks', () => {
  it('completes every task exactly once, with its handler result, under concurrency, even when the work outlasts the TTL', async () => {
    const { clock, client } = setup();
    for (let i = 0; i < 6; i++) await client.tasks.post('jobs', { n: i });
    const handled: string[] = [];
    const stop = new AbortController();
    const loop = processTasks(client, 'jobs', { worker: 'w', ttlMs: 300, pollMs: 100, concurrency: 2, signal: stop.signal, timers: clock }, async (claim) => {
      handled.push(claim.id);
      await new Promise<void>((resolve) => clock.setTimeout(resolve, 700));
      return { doubled: ((claim.task as { n: number }).n * 2) as JsonValue };
    });
    expect(await advanceUntil(clock, () => handled.length === 6 && client.calls.filter((c) => c.startsWith('tasks.complete')).length === 6, 10_000)).toBe(true);
    stop.abort();
    await advance(clock, 200);
    await loop;
    const { counts, tasks } = await client.tasks.list('jobs');
    expect(counts).toEqual({ queued: 0, claimed: 0, done: 6, dead: 0 });
    expect(new Set(handled).size).toBe(6);
    expect(tasks.map((t) => [t.attempts, t.result])).toEqual([0, 1, 2, 3, 4, 5].map((n) => [1, { doubled: n * 2 }]));
  });

  it("a lost claim (heartbeat refused as stale) aborts the handler's signal with ClaimLostError, and its outcome is not recorded", async () => {
    const { clock, client } = setup();
    await client.tasks.post('jobs', 'x', { id: 'a' });
    const stop = new AbortController();
    let reason: unknown;
    const loop = processTasks(client, 'jobs', { worker: 'w', ttlMs: 300, pollMs: 100, signal: stop.signal, timers: clock }, async (claim, signal) => {
      if (claim.attempt > 1) return 'second';
      client.faults.set('tasks.heartbeat', () => new StaleTokenError(claim.token, 'claimed again since'));
      signal.addEventListener('abort', () => (reason = signal.reason));
      await untilAborted(signal).catch(() => {});
      return 'finished anyway';
    });
    await advance(clock, 150);
    expect(reason).toBeInstanceOf(ClaimLostError);
    expect((reason as ClaimLostError).cause).toBeInstanceOf(StaleTokenError);
    stop.abort();
    await advance(clock, 200);
    await loop;
    expect(client.calls.filter((c) => c.startsWith('tasks.complete') || c.startsWith('tasks.fail'))).toEqual([]);
  });

  it("a claim whose task is gone (heartbeat NotFoundError) or that no heartbeat kept alive in time aborts the handler's signal", async () => {
    for (const fault of [() => new NotFoundError('no task a'), () => new NotLeaderError(undefined)]) {
      const { clock, client } = setup();
      await client.tasks.post('jobs', 'x', { id: 'a' });
      const stop = new AbortController();
      let reason: unknown;
      const loop = processTasks(client, 'jobs', { worker: 'w', ttlMs: 300, pollMs: 100, signal: stop.signal, timers: clock }, async (claim, signal) => {
        if (claim.attempt === 1) client.faults.set('tasks.heartbeat', fault);
        signal.addEventListener('abort', () => (reason = signal.reason));
        return untilAborted(signal);
      });
      await advance(clock, 300);
      expect(reason).toBeInstanceOf(ClaimLostError);
      stop.abort();
      await advance(clock, 200);
      await loop;
    }
  });

  it('a handler that throws fails the task with retry: it is claimed again and completed on its next attempt; one that always throws is dead-lettered', async () => {
    const { clock, client } = setup();
    await client.tasks.post('jobs', 'flaky', { id: 'flaky' });
    await client.tasks.post('jobs', 'broken', { id: 'broken', maxAttempts: 2 });
    const stop = new AbortController();
    const attempts: string[] = [];
    const loop = processTasks(client, 'jobs', { worker: 'w', ttlMs: 300, pollMs: 50, signal: stop.signal, timers: clock }, async (claim: TaskClaim) => {
      attempts.push(`${claim.id}#${claim.attempt}`);
      if (claim.id === 'broken' || claim.attempt === 1) throw new Error(`${claim.id} failed`);
      return 'ok';
    });
    expect(await advanceUntil(clock, () => attempts.length >= 4, 5_000)).toBe(true);
    stop.abort();
    await advance(clock, 100);
    await loop;
    // A failed task keeps its place: the oldest queued task is claimed first.
    expect(attempts).toEqual(['flaky#1', 'flaky#2', 'broken#1', 'broken#2']);
    expect(await client.tasks.get('flaky')).toMatchObject({ state: 'done', attempts: 2, result: 'ok' });
    expect(await client.tasks.get('broken')).toMatchObject({ state: 'dead', attempts: 2, reason: 'broken failed' });
  });

  it('resolves once its signal aborts, aborting the running handler; a handler that rejects then hands its task back', async () => {
    const { clock, client } = setup();
    await client.tasks.post('jobs', 'x', { id: 'a' });
    const stop = new AbortController();
    let started = false;
    const loop = processTasks(client, 'jobs', { worker: 'w', ttlMs: 300, pollMs: 100, signal: stop.signal, timers: clock }, async (_claim, signal) => {
      started = true;
      return untilAborted(signal);
    });
    await advance(clock, 50);
    expect(started).toBe(true);
    stop.abort(new Error('shutting down'));
    await advance(clock, 10);
    await loop;
    expect(await client.tasks.get('a')).toMatchObject({ state: 'queued', attempts: 1 });
  });
});
