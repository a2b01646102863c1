/**
 * Regression: a KvClient created again with the same clientId (an agent restarts) started its
 * sequence numbers at 1 again, and the state machine took its first write for a retry of the old
 * seq 1: the caller was told { ok: true } but nothing was written. Each instance is now a session.
 */
import { describe, expect, it } from 'vitest';
import { KvClient, type KvCluster, type KvNode } from '../../src/kv/client.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { Simulation } from '../../src/sim/simulation.js';

async function drive<T>(sim: Simulation, promise: Promise<T>): Promise<T> {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => undefined);
  for (let i = 0; i < 2000 && !done; i++) {
    sim.run(5);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return promise;
}

describe('KvClient sessions', () => {
  it('a client created again with the same clientId (an agent restarted) has its writes applied, not taken for retries', async () => {
    const sim = new Simulation({ nodes: 3, seed: 7, stateMachine: () => new KvStateMachine() });
    const cluster: KvCluster = { ids: sim.ids, node: (id) => sim.node(id) as unknown as KvNode | undefined };
    sim.runUntil(() => sim.leader() !== undefined, { timeout: 5000 });

    const first = new KvClient(cluster, { clientId: 'agent-7', clock: sim.clock });
    await drive(sim, first.put('task-1', 'open')); // seq 1

    // The agent restarts and builds its client again, as the README shows.
    const second = new KvClient(cluster, { clientId: 'agent-7', clock: sim.clock });
    const answer = await drive(sim, second.put('task-1', 'done')); // seq 1 again
    expect(answer.ok).toBe(true); // acknowledged...

    const read = await drive(sim, second.get('task-1'));
    sim.stop();
    expect(read).toEqual({ found: true, value: 'done' });
  }, 60_000);
});
