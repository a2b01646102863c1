/**
 * leaseActor, claimTaskActor and watchActor (src/coord/actors.ts), each invoked by a small parent
 * machine that records what its child sends back, against the in-memory client in virtual time;
 * and agentMachine (machines/agent.ts) run end to end with those actors.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, sendTo, setup, type AnyActorLogic, type EventObject } from 'xstate';
import { agentMachine, type AgentWorkInput } from '../../machines/agent.js';
import { claimTaskActor, leaseActor, watchActor, type ClaimTaskCommand } from '../../src/coord/actors.js';
import { ClaimLostError, LeaseLostError } from '../../src/coord/keep-alive.js';
import type { CoordClient, WatchMessage, WatchOptions } from '../../src/coord/types.js';
import type { JsonValue } from '../../src/core/json.js';
import { StaleTokenError } from '../../src/errors.js';
import { FakeCoordClient } from '../coord/fake-client.js';
import { advance, advanceUntil, VirtualClock } from '../coord/virtual-time.js';

function setupClient() {
  const clock = new VirtualClock();
  const client = new FakeCoordClient(() => clock.now());
  return { clock, client };
}

/** A parent that invokes `logic` with `input`, records every event it gets, forwards commands, and stops the child on request. */
function harness(logic: AnyActorLogic, input: unknown) {
  const events: EventObject[] = [];
  const machine = setup({
    types: { events: {} as EventObject },
    actors: { child: logic },
  }).createMachine({
    initial: 'on',
    states: {
      on: {
        invoke: { id: 'child', src: 'child', input },
        on: {
          'harness.stop': 'off',
          'harness.send': { actions: sendTo('child', ({ event }) => (event as unknown as { command: EventObject }).command) },
          '*': { actions: ({ event }) => events.push(event) },
        },
      },
      off: {},
    },
  });
  const actor = createActor(machine).start();
  return {
    events,
    of: <T extends EventObject>(type: string) => events.filter((e) => e.type === type) as T[],
    send: (command: ClaimTaskCommand) => actor.send({ type: 'harness.send', command } as EventObject),
    stop: () => actor.send({ type: 'harness.stop' }),
  };
}

describe('leaseActor', () => {
  it('acquires the lease and reports lease.acquired, keeps it past its TTL by renewing, and releases it when stopped', async () => {
    const { clock, client } = setupClient();
    const h = harness(leaseActor, { client, name: 'coord', holder: 'a', ttlMs: 300, timers: clock });
    await advance(clock, 10);
    const [acquired] = h.of<{ type: string; token: number; expiresAt: number }>('lease.acquired');
    expect(acquired).toMatchObject({ token: expect.any(Number), expiresAt: 300 });
    await advance(clock, 1000);
    expect(h.of('lease.lost')).toEqual([]);
    expect((await client.leases.get('coord'))?.token).toBe(acquired?.token);
    h.stop();
    await advance(clock, 10);
    expect(await client.leases.get('coord')).toBeUndefined();
  });

  it('retries while someone else holds the lease, and acquires it once that lease has expired', async () => {
    const { clock, client } = setupClient();
    await client.leases.acquire('coord', { holder: 'b', ttlMs: 500 });
    const h = harness(leaseActor, { client, name: 'coord', holder: 'a', ttlMs: 300, timers: clock });
    await advance(clock, 450);
    expect(h.of('lease.acquired')).toEqual([]);
    expect(await advanceUntil(clock, () => h.of('lease.acquired').length === 1, 1000)).toBe(true);
    expect((await client.leases.get('coord'))?.holder).toBe('a');
    h.stop();
  });

  it('a renewal refused as stale is reported as lease.lost with a LeaseLostError, and the actor acquires the lease again under a new token', async () => {
    const { clock, client } = setupClient();
    const h = harness(leaseActor, { client, name: 'coord', holder: 'a', ttlMs: 300, timers: clock });
    await advance(clock, 10);
    const first = h.of<{ type: string; token: number }>('lease.acquired')[0]!;
    await client.leases.release('coord', first.token);
    await advance(clock, 100);
    const [lost] = h.of<{ type: string; reason: unknown }>('lease.lost');
    expect(lost?.reason).toBeInstanceOf(LeaseLostError);
    expect((lost?.reason as LeaseLostError).cause).toBeInstanceOf(StaleTokenError);
    expect(await advanceUntil(clock, () => h.of('lease.acquired').length === 2, 1000)).toBe(true);
    expect(h.of<{ type: string; token: number }>('lease.acquired')[1]!.token).toBeGreaterThan(first.token);
    h.stop();
  });
});

describe('claimTaskActor', () => {
  const input = (client: CoordClient, clock: VirtualClock) => ({ client, queue: 'jobs', worker: 'w', ttlMs: 300, pollMs: 100, timers: clock });

  it('polls an empty queue until a task is posted, reports task.claimed, heartbeats it past its TTL, and completes it when told', async () => {
    const { clock, client } = setupClient();
    const h = harness(claimTaskActor, input(client, clock));
    await advance(clock, 250);
    expect(h.of('task.claimed')).toEqual([]);
    await client.tasks.post('jobs', 'x', { id: 'a' });
    await advance(clock, 100);
    expect(h.of('task.claimed')).toMatchObject([{ claim: { id: 'a', attempt: 1 } }]);
    await advance(clock, 1000);
    expect(h.of('claim.lost')).toEqual([]);
    h.send({ type: 'task.complete', result: 42 });
    await advance(clock, 10);
    expect(h.of('task.completed')).toEqual([{ type: 'task.completed', id: 'a' }]);
    expect(await client.tasks.get('a')).toMatchObject({ state: 'done', result: 42, attempts: 1 });
    h.stop();
  });

  it('fails the task when told: back to its queue with retry (task.failed, state queued)', async () => {
    const { clock, client } = setupClient();
    await client.tasks.post('jobs', 'x', { id: 'a' });
    const h = harness(claimTaskActor, input(client, clock));
    await advance(clock, 10);
    h.send({ type: 'task.fail', reason: 'nope', retry: true });
    await advance(clock, 10);
    expect(h.of('task.failed')).toEqual([{ type: 'task.failed', id: 'a', state: 'queued' }]);
    expect(await client.tasks.get('a')).toMatchObject({ state: 'queued', reason: 'nope' });
    h.stop();
  });

  it('a heartbeat refused as stale is reported as claim.lost with a ClaimLostError, and a later task.complete is not sent', async () => {
    const { clock, client } = setupClient();
    await client.tasks.post('jobs', 'x', { id: 'a' });
    const h = harness(claimTaskActor, input(client, clock));
    await advance(clock, 10);
    const { token } = h.of<{ type: string; claim: { token: number } }>('task.claimed')[0]!.claim;
    client.faults.set('tasks.heartbeat', () => new StaleTokenError(token, 'claimed again since'));
    await advance(clock, 100);
    expect(h.of<{ type: string; id: string; reason: unknown }>('claim.lost')).toMatchObject([{ id: 'a', reason: expect.any(ClaimLostError) }]);
    h.send({ type: 'task.complete', result: 1 });
    await advance(clock, 10);
    expect(client.calls.filter((c) => c.startsWith('tasks.complete'))).toEqual([]);
    h.stop();
  });

  it('stopped while it holds an unsettled claim, it hands the task back to the queue at once', async () => {
    const { clock, client } = setupClient();
    await client.tasks.post('jobs', 'x', { id: 'a' });
    const h = harness(claimTaskActor, input(client, clock));
    await advance(clock, 10);
    expect(h.of('task.claimed')).toHaveLength(1);
    h.stop();
    await advance(clock, 10);
    expect(await client.tasks.get('a')).toMatchObject({ state: 'queued', attempts: 1 });
  });
});

describe('watchActor', () => {
  it('sends each batch of matching changes as watch.changes, in index order, and nothing after it is stopped', async () => {
    const { clock, client } = setupClient();
    const h = harness(watchActor, { client, prefix: 'coord', kinds: ['lease'], timers: clock });
    await advance(clock, 1);
    const grant = await client.leases.acquire('coord', { holder: 'a', ttlMs: 300 });
    await client.leases.acquire('other', { holder: 'a', ttlMs: 300 });
    await client.tasks.post('coordination', 'x');
    await client.leases.release('coord', grant.token);
    await advance(clock, 1);
    const batches = h.of<{ type: string; index: number; changes: { key: string; op: string }[] }>('watch.changes');
    expect(batches.map((b) => [b.index, b.changes.map((c) => `${c.key} ${c.op}`)])).toEqual([
      [grant.token, ['coord acquired']],
      [grant.token + 3, ['coord released']],
    ]);
    h.stop();
    await advance(clock, 1);
    await client.leases.acquire('coord', { holder: 'a', ttlMs: 300 });
    await advance(clock, 1);
    expect(h.of('watch.changes')).toHaveLength(2);
  });

  it('sends watch.compacted when asked for history that is gone', async () => {
    const { clock, client } = setupClient();
    for (let i = 0; i < 3; i++) await client.tasks.post('jobs', i);
    client.compact(2);
    const h = harness(watchActor, { client, prefix: 'jobs/', from: 1, timers: clock });
    await advance(clock, 1);
    expect(h.of('watch.compacted')).toMatchObject([{ index: 4 }]);
    h.stop();
  });

  it('resumes a watch that broke from the last index seen + 1: no change missed or repeated', async () => {
    const { clock, client } = setupClient();
    let broken = false;
    const flaky: CoordClient = {
      leases: client.leases,
      tasks: client.tasks,
      watch: (prefix: string, options?: WatchOptions): AsyncIterable<WatchMessage> => {
        const inner = client.watch(prefix, options);
        if (broken) return inner;
        broken = true;
        return {
          async *[Symbol.asyncIterator]() {
            for await (const message of inner) {
              yield message;
              throw new Error('connection reset');
            }
          },
        };
      },
    };
    const h = harness(watchActor, { client: flaky, prefix: 'jobs/', from: 1, retryMs: 50, timers: clock });
    for (let i = 0; i < 3; i++) await client.tasks.post('jobs', i);
    await advance(clock, 100);
    expect(h.of<{ type: string; index: number }>('watch.changes').map((b) => b.index)).toEqual([1, 2, 3]);
    h.stop();
  });
});

describe('agentMachine with the real actors', () => {
  const work = fromPromise<JsonValue, AgentWorkInput>(async ({ input }) => ({ echo: input.claim.task }));

  it('claims, works on and completes every task of its queue', async () => {
    const { clock, client } = setupClient();
    for (let i = 0; i < 3; i++) await client.tasks.post('jobs', i);
    const agent = createActor(agentMachine.provide({ actors: { work } }), {
      input: { client, queue: 'jobs', worker: 'w1', ttlMs: 300, pollMs: 100, timers: clock },
      clock,
    }).start();
    expect(await advanceUntil(clock, () => agent.getSnapshot().context.completed === 3, 2000)).toBe(true);
    expect((await client.tasks.list('jobs')).tasks.map((t) => t.result)).toEqual([{ echo: 0 }, { echo: 1 }, { echo: 2 }]);
    agent.send({ type: 'agent.stop' });
    expect(agent.getSnapshot().status).toBe('done');
  });

  it('with a coordinator lease, only the agent holding it works; when it stops, the other takes over', async () => {
    const { clock, client } = setupClient();
    const agentInput = (worker: string) => ({ client, queue: 'jobs', worker, ttlMs: 300, pollMs: 100, timers: clock, coordinatorLease: { name: 'coord', ttlMs: 300 } });
    const machine = agentMachine.provide({ actors: { work } });
    const a = createActor(machine, { input: agentInput('a'), clock }).start();
    await advance(clock, 10);
    const b = createActor(machine, { input: agentInput('b'), clock }).start();
    for (let i = 0; i < 2; i++) await client.tasks.post('jobs', i);
    expect(await advanceUntil(clock, () => a.getSnapshot().context.completed === 2, 2000)).toBe(true);
    expect(b.getSnapshot().matches({ running: { worker: 'idle' } })).toBe(true);
    a.send({ type: 'agent.stop' });
    await client.tasks.post('jobs', 2);
    expect(await advanceUntil(clock, () => b.getSnapshot().context.completed === 1, 2000)).toBe(true);
    expect((await client.tasks.list('jobs')).tasks.map((t) => t.completedBy?.worker)).toEqual(['a', 'a', 'b']);
    b.send({ type: 'agent.stop' });
  });
});
