/**
 * Replicated time in a cluster: the leader's runtime stamps entries and appends a tick when a
 * lease or claim is due, so expiry happens with no client traffic at all; a lease outlives the
 * leader that granted it and expires under the next one; fencing tokens keep growing across
 * leaders.
 */
import { describe, expect, it } from 'vitest';
import { coordClient, kvClientCommands } from '../../src/coord/client.js';
import { CoordStateMachine } from '../../src/coord/state-machine.js';
import { KvClient, type KvCluster, type KvNode } from '../../src/kv/client.js';
import { Simulation } from '../../src/sim/simulation.js';
import { drive } from './harness.js';

function setup(seed: number, wallClock?: (id: string, now: number) => number) {
  const machines = new Map<string, CoordStateMachine>();
  const sim = new Simulation({
    nodes: 3,
    seed,
    ...(wallClock ? { wallClock } : {}),
    stateMachine: (id) => {
      const machine = new CoordStateMachine();
      machines.set(id, machine);
      return machine;
    },
  });
  const cluster: KvCluster = { ids: sim.ids, node: (id) => sim.node(id) as unknown as KvNode | undefined };
  const client = coordClient({
    ...kvClientCommands(new KvClient(cluster, { clientId: 'agent', clock: sim.clock, timeout: 5000, attemptTimeout: 500 })),
    watch: () => {
      throw new Error('not used');
    },
  });
  sim.runUntil(() => sim.leader() !== undefined, { timeout: 5000 });
  return { sim, client, machines };
}

describe('replicated time in a cluster', () => {
  it('expires a lease with no client traffic: the leader appends a tick when it is due', async () => {
    const { sim, client, machines } = setup(3);
    const lease = await drive(sim, client.leases.acquire('coordinator', { holder: 'agent-1', ttlMs: 1000 }));
    sim.run(700);
    expect(await drive(sim, client.leases.get('coordinator'))).toMatchObject({ holder: 'agent-1', token: lease.token });
    const lastIndex = sim.status(sim.leader() as string)?.lastLogIndex ?? 0;
    sim.run(400);
    // Every replica expired it, at the same entry: the tick the leader appended.
    for (const machine of machines.values()) expect(machine.query({ type: 'lease.get', name: 'coordinator' })).toEqual({ lease: null });
    expect(sim.status(sim.leader() as string)?.lastLogIndex).toBe(lastIndex + 1);
    expect(await drive(sim, client.leases.get('coordinator'))).toBeUndefined();
    sim.stop();
  }, 60_000);

  it('keeps a lease across a change of leader, expires it under the new one, and the next token is larger', async () => {
    const { sim, client } = setup(5);
    const first = await drive(sim, client.leases.acquire('coordinator', { holder: 'agent-1', ttlMs: 3000 }));
    const old = sim.leader() as string;
    sim.crash(old);
    expect(sim.runUntil(() => sim.leader() !== undefined && sim.leader() !== old, { timeout: 5000 })).toBe(true);
    // Still held under the new leader (time in the log did not jump), and refused to another holder.
    await expect(drive(sim, client.leases.acquire('coordinator', { holder: 'agent-2', ttlMs: 3000 }))).rejects.toMatchObject({ code: 'lease_held', holder: 'agent-1' });
    sim.run(3500);
    const second = await drive(sim, client.leases.acquire('coordinator', { holder: 'agent-2', ttlMs: 3000 }));
    expect(second.token).toBeGreaterThan(first.token);
    // The first holder, back from its pause, can neither renew nor write under its old token.
    await expect(drive(sim, client.leases.renew('coordinator', first.token))).rejects.toMatchObject({ code: 'stale_token' });
    await expect(drive(sim, client.kv.put('plan', 'mine', { fence: { lease: 'coordinator', token: first.token } }))).rejects.toMatchObject({ code: 'stale_token' });
    sim.stop();
  }, 60_000);

  it('a leader whose clock jumps far back neither expires early nor floods the log with ticks; time goes on once its clock catches up', async () => {
    let offset = 0;
    const { sim, client } = setup(7, (_id, now) => now + offset);
    await drive(sim, client.leases.acquire('coordinator', { holder: 'agent-1', ttlMs: 1000 }));
    const leader = sim.leader() as string;
    offset = -30 * 24 * 60 * 60 * 1000; // 30 days behind the stamps already in the log
    const before = sim.status(leader)?.lastLogIndex ?? 0;
    sim.run(3000);
    expect((sim.status(leader)?.lastLogIndex ?? 0) - before).toBeLessThanOrEqual(1);
    expect(await drive(sim, client.leases.get('coordinator'))).toMatchObject({ holder: 'agent-1' });
    offset = 0;
    sim.run(3000);
    expect(await drive(sim, client.leases.get('coordinator'))).toBeUndefined();
    sim.stop();
  }, 60_000);
});
