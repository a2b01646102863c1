/**
 * The coordination client in a simulated cluster: a worker polling an idle queue does not fill the
 * log (after one empty claim it looks with a linearizable read first), and still gets the next
 * task the moment one is posted.
 */
import { describe, expect, it } from 'vitest';
import { coordClient, kvClientCommands } from '../../src/coord/client.js';
import { CoordStateMachine } from '../../src/coord/state-machine.js';
import { KvClient, type KvCluster, type KvNode } from '../../src/kv/client.js';
import { Simulation } from '../../src/sim/simulation.js';

async function drive<T>(sim: Simulation, promise: Promise<T>): Promise<T> {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => undefined);
  for (let i = 0; i < 4000 && !done; i++) {
    sim.run(5);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return promise;
}

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
});
