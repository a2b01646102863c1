/**
 * Regression: propose()/submit() once put the caller's command object itself into the leader's
 * log. If the caller changed that object after proposing, a follower that received the entry
 * later (catch-up from the leader's in-memory log) got a different command at the same index than
 * the followers that got it earlier. The runtime now keeps a frozen copy.
 *
 * Shown in the simulator (whose memory transport passes objects by reference too); with the HTTP
 * transport the early followers hold the JSON of the original while the leader keeps re-sending
 * the changed object to laggards, so the outcome is the same.
 */
import { describe, expect, it } from 'vitest';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { Simulation } from '../../src/sim/simulation.js';

describe('the log keeps its own copy of a proposed command', () => {
  it('every replica applies the same value for one log index even if the caller changes its object afterwards', async () => {
    const machines = new Map<string, KvStateMachine>();
    const sim = new Simulation({
      nodes: 3,
      seed: 5,
      stateMachine: (id) => {
        const m = new KvStateMachine();
        machines.set(id, m);
        return m;
      },
    });
    sim.runUntil(() => sim.leader() !== undefined, { timeout: 5000 });
    sim.run(300);
    const leader = sim.leader() as string;
    const [early, late] = sim.ids.filter((id) => id !== leader) as [string, string];
    sim.network.block(leader, late);

    const value = { owner: 'agent-1' };
    const answer = sim.node(leader)?.propose({ type: 'put', key: 'task', value });
    expect(sim.runUntil(() => machines.get(early)?.get('task').found === true && machines.get(leader)?.get('task').found === true, { timeout: 2000 })).toBe(true);
    await answer;

    value.owner = 'agent-2'; // the caller reuses its object after the write was acknowledged
    sim.network.unblock(leader, late);
    expect(sim.runUntil(() => machines.get(late)?.get('task').found === true, { timeout: 5000 })).toBe(true);
    const seen = Object.fromEntries([leader, early, late].map((id) => [id, machines.get(id)?.get('task')]));
    sim.stop();
    console.log(seen);
    expect(seen[early]).toEqual({ found: true, value: { owner: 'agent-1' } });
    // Before the fix the late replica held { owner: 'agent-2' } for the same log index.
    expect(seen[late]).toEqual(seen[early]);
  }, 30_000);
});
