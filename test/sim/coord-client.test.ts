/**
 * The coordination client in a simulated cluster: a worker polling an idle queue does not fill the
 * log (after one empty claim it looks with a linearizable read first), and still gets the next
 * task the moment one is posted.
 */
import { describe, expect, it } from 'vitest';
import { coordClient, kvClientCommands } from '../../src/coord/client.js';
import { processTasks } from '../../src/coord/helpers.js';
import { CoordStateMachine } from '../../src/coord/state-machine.js';
import { KvClient, type KvCluster, type KvNode } from '../../src/kv/client.js';
import { Simulation } from '../../src/sim/simulation.js';
import { drive } from './harness.js';

describe('the coordination client', () => {
  it('polls an empty queue without writing the log, and claims as soon as a task is posted', async () => {
    const sim = new Simulation({ nodes: 3, seed: 11, stateMachine: () => new CoordStateMachine() });
    const cluster: KvCluster = { ids: sim.ids, node: (id) => sim.node(id) as unknown as KvNode | undefined };
    const client = (name: string) =>
      coordClient({
        ...kvClientCommands(new KvClient(cluster, { clientId: name, clock: sim.clock })),
        watch: () => {
          throw new Error('not used');
        },
      });
    const worker = client('worker');
    const poster = client('poster');
    sim.runUntil(() => sim.leader() !== undefined, { timeout: 5000 });
    expect(await drive(sim, worker.tasks.claim('jobs', { worker: 'w', ttlMs: 1000 }))).toBeUndefined();
    const after = sim.status(sim.leader() as string)?.lastLogIndex ?? 0;
    for (let i = 0; i < 10; i++) expect(await drive(sim, worker.tasks.claim('jobs', { worker: 'w', ttlMs: 1000 }))).toBeUndefined();
    expect(sim.status(sim.leader() as string)?.lastLogIndex).toBe(after);
    await drive(sim, poster.tasks.post('jobs', 'work', { id: 'job-1' }));
    expect(await drive(sim, worker.tasks.claim('jobs', { worker: 'w', ttlMs: 1000 }))).toMatchObject({ id: 'job-1' });
    sim.stop();
  }, 60_000);

  it('records what the cluster refuses as given (a reason too long, a result too deep) once, as a failure, and stops', async () => {
    const sim = new Simulation({ nodes: 3, seed: 12, stateMachine: () => new CoordStateMachine() });
    const cluster: KvCluster = { ids: sim.ids, node: (id) => sim.node(id) as unknown as KvNode | undefined };
    const client = coordClient({
      ...kvClientCommands(new KvClient(cluster, { clientId: 'w', clock: sim.clock })),
      watch: () => {
        throw new Error('not used');
      },
    });
    sim.runUntil(() => sim.leader() !== undefined, { timeout: 5000 });
    await drive(sim, client.tasks.post('jobs', 'long', { id: 'long', maxAttempts: 1 }));
    await drive(sim, client.tasks.post('jobs', 'deep', { id: 'deep', maxAttempts: 1 }));
    const stop = new AbortController();
    const timers = { setTimeout: (fn: () => void, ms: number) => sim.clock.setTimeout(fn, ms), clearTimeout: (h: unknown) => sim.clock.clearTimeout(h) };
    let handled = 0;
    const deep = (n: number): unknown => (n === 0 ? 0 : [deep(n - 1)]);
    const worker = processTasks(client, 'jobs', { worker: 'w', ttlMs: 1000, pollMs: 50, timers, signal: stop.signal }, async (task) => {
      if (++handled === 2) stop.abort();
      if (task.id === 'long') throw new Error('x'.repeat(10_000));
      return deep(100) as never;
    });
    await drive(sim, worker);
    const long = await drive(sim, client.tasks.get('long'));
    expect(long).toMatchObject({ state: 'dead' });
    // Cut to what the cluster takes (it then adds why the task is dead).
    expect(long?.reason).toMatch(/^x{4096}; no attempts left/);
    expect(await drive(sim, client.tasks.get('deep'))).toMatchObject({ state: 'dead', reason: expect.stringMatching(/^the result was refused/) });
    sim.stop();
  }, 60_000);
});
