import { describe, expect, it } from 'vitest';
import { type CoordCommand, type CoordResult, CoordStateMachine, type CoordStateMachineOptions } from '../../src/coord/state-machine.js';
import { subscribeJournal } from '../../src/coord/watch.js';
import type { WatchMessage } from '../../src/coord/types.js';

/** A log applied by hand: each command at the next index, stamped at `at` (the leader's clock). */
function replica(options: CoordStateMachineOptions = {}) {
  const sm = new CoordStateMachine(options);
  let index = 0;
  const apply = (command: CoordCommand, at?: number): CoordResult => {
    index++;
    return sm.apply(at === undefined ? command : sm.stamp(command, at), { term: 1, index, command });
  };
  return {
    sm,
    apply,
    get index() {
      return index;
    },
  };
}

describe('replicated time', () => {
  it('never runs backwards: a stamp below the last one leaves the clock where it was', () => {
    const { sm, apply } = replica();
    apply({ type: 'coord.tick' }, 1000);
    apply({ type: 'coord.tick' }, 400); // a new leader whose clock is behind
    expect(sm.now).toBe(1000);
    apply({ type: 'coord.tick' }, 1500);
    expect(sm.now).toBe(1500);
  });

  it('expires a lease at the first entry stamped at or after its expiresAt, on every replica alike', () => {
    const a = replica();
    const b = replica();
    for (const r of [a, b]) {
      r.apply({ type: 'lease.acquire', name: 'coordinator', holder: 'agent-1', ttlMs: 1000 }, 0);
      r.apply({ type: 'coord.tick' }, 999);
    }
    expect(a.sm.query({ type: 'lease.get', name: 'coordinator' })).toMatchObject({ lease: { holder: 'agent-1', token: 1 } });
    a.apply({ type: 'coord.tick' }, 1000);
    b.apply({ type: 'coord.tick' }, 1000);
    expect(a.sm.query({ type: 'lease.get', name: 'coordinator' })).toEqual({ lease: null });
    expect(a.sm.snapshot()).toEqual(b.sm.snapshot());
    expect(a.sm.nextDeadline()).toBeUndefined();
  });

  it('names the earliest deadline still standing (a renewed lease moves it)', () => {
    const { sm, apply } = replica();
    apply({ type: 'lease.acquire', name: 'l', holder: 'h', ttlMs: 1000 }, 0);
    expect(sm.nextDeadline()).toBe(1000);
    apply({ type: 'lease.renew', name: 'l', token: 1 }, 500);
    expect(sm.nextDeadline()).toBe(1500);
  });
});

describe('leases and fencing tokens', () => {
  it('grants to one holder at a time; the token is the granting index and only grows', () => {
    const { apply } = replica();
    expect(apply({ type: 'lease.acquire', name: 'l', holder: 'a', ttlMs: 1000 }, 0)).toMatchObject({ ok: true, lease: { holder: 'a', token: 1, expiresAt: 1000 } });
    expect(apply({ type: 'lease.acquire', name: 'l', holder: 'b', ttlMs: 1000 }, 10)).toEqual({
      ok: false,
      reason: 'lease_held',
      name: 'l',
      holder: 'a',
      token: 1,
      expiresAt: 1000,
    });
    // Its own holder acquiring again gets a new token, which fences out the earlier one.
    expect(apply({ type: 'lease.acquire', name: 'l', holder: 'a', ttlMs: 1000 }, 20)).toMatchObject({ ok: true, lease: { token: 3 } });
    expect(apply({ type: 'lease.renew', name: 'l', token: 1 }, 30)).toMatchObject({ ok: false, reason: 'stale_token', token: 1, current: { holder: 'a', token: 3 } });
    expect(apply({ type: 'lease.acquire', name: 'l', holder: 'b', ttlMs: 1000 }, 1020)).toMatchObject({ ok: true, lease: { holder: 'b', token: 5 } });
  });

  it('refuses renew and release with a token that expired, even if the holder wakes up just after', () => {
    const { apply } = replica();
    apply({ type: 'lease.acquire', name: 'l', holder: 'a', ttlMs: 1000 }, 0);
    expect(apply({ type: 'lease.renew', name: 'l', token: 1 }, 1000)).toMatchObject({ ok: false, reason: 'stale_token' });
    expect(apply({ type: 'lease.release', name: 'l', token: 1 }, 1001)).toMatchObject({ ok: false, reason: 'stale_token' });
  });

  it('refuses a KV write fenced by a lease that was granted again, and lets the current holder write', () => {
    const { sm, apply } = replica();
    apply({ type: 'lease.acquire', name: 'l', holder: 'a', ttlMs: 1000 }, 0);
    apply({ type: 'lease.acquire', name: 'l', holder: 'b', ttlMs: 1000 }, 1500);
    expect(apply({ type: 'put', key: 'plan', value: 'a', fence: { lease: 'l', token: 1 } }, 1600)).toMatchObject({ ok: false, reason: 'stale_token' });
    expect(sm.get('plan')).toEqual({ found: false });
    expect(apply({ type: 'put', key: 'plan', value: 'b', fence: { lease: 'l', token: 2 } }, 1600)).toMatchObject({ ok: true });
    expect(sm.get('plan')).toEqual({ found: true, value: 'b' });
  });

  it('refuses a malformed command without changing anything', () => {
    const { sm, apply } = replica();
    const before = sm.snapshot();
    expect(apply({ type: 'lease.acquire', name: '', holder: 'a', ttlMs: 1000 } as CoordCommand)).toMatchObject({ ok: false, reason: 'invalid_command' });
    expect(apply({ type: 'lease.acquire', name: 'l', holder: 'a', ttlMs: 5 } as CoordCommand)).toMatchObject({ ok: false, reason: 'invalid_command' });
    expect(apply({ type: 'put', key: 'k', value: 1, fence: { lease: 'l' } } as unknown as CoordCommand)).toMatchObject({ ok: false, reason: 'invalid_command' });
    expect({ ...(sm.snapshot() as object), index: 0 }).toEqual({ ...(before as object), index: 0 });
  });
});

describe('task queues', () => {
  it('claims oldest first, one live claim per task, completes once with the token of its claim', () => {
    const { sm, apply } = replica();
    apply({ type: 'task.post', queue: 'q', task: { n: 1 } }, 0);
    apply({ type: 'task.post', queue: 'q', task: { n: 2 }, id: 'second' }, 0);
    const first = apply({ type: 'task.claim', queue: 'q', worker: 'w1', ttlMs: 1000 }, 10);
    expect(first).toMatchObject({ ok: true, claim: { id: 't1', task: { n: 1 }, worker: 'w1', token: 3, expiresAt: 1010, attempt: 1 } });
    expect(apply({ type: 'task.claim', queue: 'q', worker: 'w2', ttlMs: 1000 }, 10)).toMatchObject({ claim: { id: 'second', token: 4 } });
    expect(apply({ type: 'task.claim', queue: 'q', worker: 'w3', ttlMs: 1000 }, 10)).toEqual({ ok: true, claim: null });
    expect(apply({ type: 'task.complete', id: 't1', token: 3, result: 'ok' }, 20)).toEqual({ ok: true });
    expect(apply({ type: 'task.complete', id: 't1', token: 3, result: 'again' }, 21)).toMatchObject({ ok: false, reason: 'stale_token' });
    expect(sm.query({ type: 'task.get', id: 't1' })).toMatchObject({ task: { state: 'done', result: 'ok', completedBy: { worker: 'w1', token: 3 } } });
  });

  it('requeues an expired claim at its place, and refuses the paused worker that wakes up after it', () => {
    const { apply } = replica();
    apply({ type: 'task.post', queue: 'q', task: 'a' }, 0);
    apply({ type: 'task.post', queue: 'q', task: 'b' }, 0);
    apply({ type: 'task.claim', queue: 'q', worker: 'slow', ttlMs: 1000 }, 0); // t1, token 3
    apply({ type: 'coord.tick' }, 1000);
    expect(apply({ type: 'task.claim', queue: 'q', worker: 'fast', ttlMs: 1000 }, 1001)).toMatchObject({ claim: { id: 't1', token: 5, attempt: 2 } });
    expect(apply({ type: 'task.heartbeat', id: 't1', token: 3 }, 1002)).toMatchObject({ ok: false, reason: 'stale_token', current: { holder: 'fast', token: 5 } });
    expect(apply({ type: 'task.complete', id: 't1', token: 3 }, 1003)).toMatchObject({ ok: false, reason: 'stale_token' });
    expect(apply({ type: 'put', key: 'out', value: 1, fence: { task: 't1', token: 3 } }, 1003)).toMatchObject({ ok: false, reason: 'stale_token' });
    expect(apply({ type: 'task.complete', id: 't1', token: 5 }, 1004)).toEqual({ ok: true });
  });

  it('dead-letters a task after maxAttempts claims, and at once on a failure without retry', () => {
    const { sm, apply } = replica();
    apply({ type: 'task.post', queue: 'q', task: 'x', maxAttempts: 2 }, 0);
    apply({ type: 'task.claim', queue: 'q', worker: 'w', ttlMs: 100 }, 0);
    expect(apply({ type: 'task.fail', id: 't1', token: 2, reason: 'boom' }, 10)).toEqual({ ok: true, state: 'queued' });
    apply({ type: 'task.claim', queue: 'q', worker: 'w', ttlMs: 100 }, 10);
    apply({ type: 'coord.tick' }, 200);
    expect(sm.query({ type: 'task.get', id: 't1' })).toMatchObject({ task: { state: 'dead', attempts: 2 } });
    apply({ type: 'task.post', queue: 'q', task: 'y' }, 200);
    const claim = apply({ type: 'task.claim', queue: 'q', worker: 'w', ttlMs: 100 }, 200) as { claim: { id: string; token: number } };
    expect(apply({ type: 'task.fail', id: claim.claim.id, token: claim.claim.token, reason: 'bad input', retry: false }, 201)).toEqual({ ok: true, state: 'dead' });
    expect(sm.query({ type: 'task.list', queue: 'q' })).toMatchObject({ counts: { queued: 0, claimed: 0, done: 0, dead: 2 } });
  });

  it('makes posting with an id idempotent, and a retried claim (same client seq) claims nothing more', () => {
    const { sm, apply } = replica();
    expect(apply({ type: 'task.post', queue: 'q', task: 1, id: 'job' }, 0)).toEqual({ ok: true, id: 'job', index: 1, duplicate: false });
    expect(apply({ type: 'task.post', queue: 'q', task: 2, id: 'job' }, 0)).toEqual({ ok: true, id: 'job', index: 1, duplicate: true });
    expect(apply({ type: 'task.post', queue: 'other', task: 2, id: 'job' }, 0)).toMatchObject({ ok: false, reason: 'id_taken', queue: 'q' });
    apply({ type: 'task.post', queue: 'q', task: 3, id: 'job2' }, 0);
    const claim = { type: 'task.claim', queue: 'q', worker: 'w', ttlMs: 1000, client: { id: 'c', seq: 1 } } as const;
    const once = apply(claim, 0);
    expect(apply(claim, 0)).toEqual(once);
    expect(sm.query({ type: 'task.list', queue: 'q' })).toMatchObject({ counts: { queued: 1, claimed: 1 } });
  });
});

describe('snapshots', () => {
  it('a restored replica goes on exactly as the one that applied every entry (expiries included)', () => {
    const a = replica();
    a.apply({ type: 'lease.acquire', name: 'l1', holder: 'a', ttlMs: 500 }, 0);
    a.apply({ type: 'lease.acquire', name: 'l2', holder: 'b', ttlMs: 500 }, 0);
    a.apply({ type: 'task.post', queue: 'q', task: 'x' }, 0);
    a.apply({ type: 'task.claim', queue: 'q', worker: 'w', ttlMs: 500 }, 0);
    a.apply({ type: 'put', key: 'k', value: [1], client: { id: 'c', seq: 1 } }, 0);
    const b = new CoordStateMachine();
    b.restore(JSON.parse(JSON.stringify(a.sm.snapshot())));
    expect(b.nextDeadline()).toBe(500);
    const tick = a.sm.stamp({ type: 'coord.tick' }, 600);
    const entry = { term: 1, index: 6, command: tick };
    a.sm.apply(tick, entry);
    b.apply(tick, entry);
    expect(b.snapshot()).toEqual(a.sm.snapshot());
    expect(b.changesFrom(6)).toEqual(a.sm.changesFrom(6));
    // The restored replica has no history before its snapshot: a watcher asking for it is told so.
    expect(b.changesFrom(3)).toMatchObject({ ok: false, reason: 'compacted' });
  });

  it('restores a version-1 KV snapshot (a data directory from before leases and tasks)', () => {
    const sm = new CoordStateMachine();
    sm.restore({ version: 1, data: [['k', 'v']], sessions: [] });
    expect(sm.get('k')).toEqual({ found: true, value: 'v' });
  });
});

describe('the journal', () => {
  it("delivers each entry's changes once, from an index, filtered by prefix and kind", () => {
    const { sm, apply } = replica();
    apply({ type: 'put', key: 'jobs/1', value: 1 }, 0);
    apply({ type: 'put', key: 'other', value: 1 }, 0);
    apply({ type: 'lease.acquire', name: 'jobs-lock', holder: 'a', ttlMs: 100 }, 0);
    const seen: WatchMessage[] = [];
    const stop = subscribeJournal(sm, 'jobs', { from: 1 }, (m) => seen.push(m));
    apply({ type: 'put', key: 'jobs/2', value: 2 }, 200); // also expires the lease
    stop();
    apply({ type: 'put', key: 'jobs/3', value: 3 }, 300);
    expect(seen.map((m) => (m.type === 'changes' ? [m.index, m.changes.map((c) => `${c.kind}:${c.key}:${c.op}`)] : m.type))).toEqual([
      [1, ['kv:jobs/1:put']],
      [3, ['lease:jobs-lock:acquired']],
      [4, ['lease:jobs-lock:expired', 'kv:jobs/2:put']],
    ]);
    const kvOnly: WatchMessage[] = [];
    subscribeJournal(sm, '', { from: 3, kinds: ['kv'] }, (m) => kvOnly.push(m))();
    expect(kvOnly.map((m) => (m.type === 'changes' ? m.index : -1))).toEqual([4, 5]);
  });

  it('says compacted rather than skip, once the journal dropped what the watcher asks for', () => {
    const { sm, apply } = replica({ journalLimit: 2 });
    for (let i = 0; i < 10; i++) apply({ type: 'put', key: `k${i}`, value: i }, 0);
    const seen: WatchMessage[] = [];
    subscribeJournal(sm, '', { from: 2 }, (m) => seen.push(m));
    expect(seen).toEqual([expect.objectContaining({ type: 'compacted', index: 11 })]);
    const recent: WatchMessage[] = [];
    subscribeJournal(sm, '', { from: 9 }, (m) => recent.push(m));
    expect(recent.map((m) => m.type === 'changes' && m.index)).toEqual([9, 10]);
  });
});

describe('second reading', () => {
  it("keeps the automatic ids (t<index>) out of clients' reach, so a post is never taken for another", () => {
    const { apply } = replica();
    expect(apply({ type: 'task.post', queue: 'q', task: 1, id: 't3' }, 0)).toMatchObject({ ok: false, reason: 'invalid_command' });
    expect(apply({ type: 'task.post', queue: 'q', task: 1, id: 't3x' }, 0)).toMatchObject({ ok: true, id: 't3x' });
  });

  it("replaces a client's own `at` with the leader's stamp", () => {
    const { sm } = replica();
    const forged = { type: 'coord.tick', at: 1e15 } as CoordCommand;
    expect(sm.stamp(forged, 10)).toEqual({ type: 'coord.tick', at: 10 });
    expect(sm.stamp(forged, Number.NaN)).toEqual({ type: 'coord.tick' });
  });

  it('forgets idle sessions and long-finished tasks at the same entry on every replica', () => {
    const options = { sessionRetentionMs: 60_000, taskRetentionMs: 120_000 };
    const a = replica(options);
    a.apply({ type: 'put', key: 'k', value: 1, client: { id: 'c', seq: 1 } }, 1000);
    a.apply({ type: 'task.post', queue: 'q', task: 1 }, 1000);
    a.apply({ type: 'task.claim', queue: 'q', worker: 'w', ttlMs: 100_000 }, 1000);
    a.apply({ type: 'task.complete', id: 't2', token: 3 }, 1000);
    const b = new CoordStateMachine(options);
    b.restore(JSON.parse(JSON.stringify(a.sm.snapshot())));
    const at = (time: number) => ({ term: 1, index: 5 + time / 1000, command: a.sm.stamp({ type: 'coord.tick' }, time) });
    for (const time of [61_000, 62_000, 125_000]) {
      const entry = at(time);
      a.sm.apply(entry.command, entry);
      b.apply(entry.command, entry);
      expect(b.snapshot()).toEqual(a.sm.snapshot());
    }
    // The session went at the first minute after it had been idle for a minute; the task after two.
    const state = a.sm.snapshot() as { sessions: unknown[]; tasks: unknown[] };
    expect(state.sessions).toEqual([]);
    expect(state.tasks).toEqual([]);
  });

  it('refuses a snapshot that lists a task twice or a claimed task without its claim, and keeps its state', () => {
    const { sm, apply } = replica();
    apply({ type: 'put', key: 'k', value: 1 }, 0);
    const good = sm.snapshot() as Record<string, unknown>;
    const task = { id: 'x', queue: 'q', task: 1, state: 'queued', attempts: 0, maxAttempts: 5, postedAt: 1 };
    expect(() => sm.restore({ ...good, tasks: [task, task] } as never)).toThrow(/unique/);
    expect(() => sm.restore({ ...good, tasks: [{ ...task, state: 'claimed' }] } as never)).toThrow(/claim/);
    expect(sm.get('k')).toEqual({ found: true, value: 1 });
  });

  it("restores a version-1 snapshot's sessions (a retry after the upgrade is still applied once) and says compacted for history it lacks", () => {
    const sm = new CoordStateMachine();
    sm.restore({ version: 1, data: [['k', 'A']], sessions: [['c#7', 3, { ok: true, index: 40 }]] });
    expect(sm.apply({ type: 'put', key: 'k', value: 'stale', client: { id: 'c#7', seq: 3 } }, { term: 1, index: 43, command: null })).toEqual({ ok: true, index: 40 });
    expect(sm.get('k')).toEqual({ found: true, value: 'A' });
    expect(sm.changesFrom(10)).toMatchObject({ ok: false, reason: 'compacted' });
    expect(sm.changesFrom(43)).toMatchObject({ ok: true });
  });

  it('tells a watcher compacted when a snapshot is installed under it', () => {
    const { sm, apply } = replica();
    const seen: WatchMessage[] = [];
    subscribeJournal(sm, '', { from: 1 }, (m) => seen.push(m));
    apply({ type: 'put', key: 'a', value: 1 }, 0);
    const other = replica();
    for (let i = 0; i < 5; i++) other.apply({ type: 'put', key: `b${i}`, value: i }, 0);
    sm.restore(other.sm.snapshot());
    apply({ type: 'put', key: 'c', value: 1 }, 0);
    expect(seen.map((m) => m.type)).toEqual(['changes', 'compacted']);
    expect(seen[1]).toMatchObject({ index: 6 });
  });

  it('applies an entry alike whatever a change listener does', () => {
    const { sm, apply } = replica();
    sm.onChanges(() => {
      throw new Error('a broken watcher');
    });
    expect(apply({ type: 'lease.acquire', name: 'l', holder: 'h', ttlMs: 1000 }, 0)).toMatchObject({ ok: true });
  });
});

describe('a task named with its queue', () => {
  it('is not found in another queue, whatever the token', () => {
    const { apply } = replica();
    apply({ type: 'task.post', queue: 'a', task: 1, id: 'x' }, 0);
    apply({ type: 'task.claim', queue: 'a', worker: 'w', ttlMs: 1000 }, 0);
    expect(apply({ type: 'task.complete', id: 'x', token: 2, queue: 'b' }, 0)).toMatchObject({ ok: false, reason: 'not_found' });
    expect(apply({ type: 'task.complete', id: 'x', token: 2, queue: 'a' }, 0)).toEqual({ ok: true });
  });
});

describe('the journal, bounded', () => {
  it('keeps at most journalMaxBytes of changes: a large value written often does not pile up', () => {
    const { sm, apply } = replica({ journalMaxBytes: 50_000 });
    const big = 'x'.repeat(10_000);
    for (let i = 0; i < 20; i++) apply({ type: 'put', key: 'plan', value: big }, 0);
    const kept = sm.changesFrom(18);
    expect(kept.ok && kept.batches.map((b) => b.index)).toEqual([18, 19, 20]);
    expect(sm.changesFrom(10)).toMatchObject({ ok: false, reason: 'compacted' });
  });

  it('leaves a watcher already past an installed snapshot alone', () => {
    const { sm, apply } = replica();
    for (let i = 0; i < 8; i++) apply({ type: 'put', key: `k${i}`, value: i }, 0);
    const seen: WatchMessage[] = [];
    subscribeJournal(sm, '', { from: 8 }, (m) => seen.push(m));
    const other = replica();
    for (let i = 0; i < 5; i++) other.apply({ type: 'put', key: `k${i}`, value: i }, 0);
    sm.restore(other.sm.snapshot()); // a snapshot at 5, behind what the watcher saw (8)
    expect(seen.map((m) => m.type)).toEqual(['changes']);
  });
});
