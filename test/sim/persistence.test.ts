import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { raftNodeMachine } from '../../machines/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { awaitLeader, cluster, figure8Crashes, figure8Scenario, one, others } from './harness.js';

describe('persistence across restarts', () => {
  it('keeps committed entries when a follower, the leader, and then the whole cluster restart', () => {
    const sim = cluster(3, 21);
    awaitLeader(sim);
    one(sim, 'before', 3);

    const leader = sim.leader() as string;
    const [follower] = others(sim, leader);
    sim.crash(follower as string);
    one(sim, 'follower-down', 2);
    sim.restart(follower as string);
    one(sim, 'follower-back', 3);

    sim.crash(leader);
    one(sim, 'leader-down', 2);
    sim.restart(leader);
    one(sim, 'leader-back', 3);

    for (const id of sim.ids) sim.crash(id);
    for (const id of sim.ids) sim.restart(id);
    one(sim, 'all-back', 3);
    const applied = sim.applied(sim.leader() as string).map((a) => a.command);
    expect(applied).toEqual(['before', 'follower-down', 'follower-back', 'leader-down', 'leader-back', 'all-back']);
  });

  it('never votes twice in one term across a restart', () => {
    const sim = cluster(3, 22);
    awaitLeader(sim);
    for (let round = 0; round < 20; round++) {
      const victim = sim.random.pick(sim.ids);
      sim.crash(victim);
      sim.run(sim.random.int(0, 400));
      sim.restart(victim);
      sim.run(sim.random.int(0, 400));
    }
    // The checker would have thrown on two leaders in one term; the cluster still works.
    one(sim, 'alive', 3);
  });
});

describe('Figure 8', () => {
  it('does not commit an entry of an earlier term that a majority holds until one of the current term is', () => {
    // Figure 8 (c), at one node: n1 returns as leader of term 4 holding an entry of term 2 at
    // index 2 that only it has; followers then report holding index 2 (a majority) — but not yet
    // index 3, the no-op of term 4. Index 2 must not be committed on that evidence.
    const actor = createActor(raftNodeMachine, {
      input: {
        id: 'n1',
        peers: ['n1', 'n2', 'n3'],
        preVote: false,
        persisted: {
          currentTerm: 3,
          votedFor: null,
          log: [
            { term: 1, index: 1, command: 'a' },
            { term: 2, index: 2, command: 'b' },
          ],
        },
      },
      clock: new VirtualClock(),
    }).start();
    actor.send({ type: 'timeout.election' });
    for (const from of ['n2', 'n3']) actor.send({ type: 'rpc.requestVoteResult', from, term: 4, voteGranted: true });
    expect(actor.getSnapshot().value).toBe('leader');
    expect(actor.getSnapshot().context.log.termAt(3)).toBe(4); // the new leader's no-op
    const ack = (from: string, matchIndex: number) =>
      actor.send({ type: 'rpc.appendEntriesResult', from, term: 4, requestTerm: 4, success: true, matchIndex, rejectedIndex: 0, conflictTerm: 0, conflictIndex: 0, seq: 0 });
    ack('n2', 2);
    ack('n3', 2);
    expect(actor.getSnapshot().context.commitIndex).toBe(0);
    ack('n2', 3);
    expect(actor.getSnapshot().context.commitIndex).toBe(3);
    actor.stop();
  });

  it('stays safe under 1000 rounds of leader crashes (Figure 8 with crashes)', () => {
    figure8Crashes(cluster(5, 32), Number(process.env.FIGURE8_ROUNDS ?? 1000));
  });

  it('follows Figure 8 step by step and never loses a committed entry', () => {
    figure8Scenario(cluster(5, 34, { electionTimeout: [150, 300], heartbeatInterval: 50 }));
  });

  it('stays safe on an unreliable, long-reordering network (Figure 8 unreliable)', () => {
    const rounds = Number(process.env.FIGURE8_ROUNDS ?? 1000);
    const sim = cluster(5, 33, { network: { drop: 0.1, duplicate: 0.05, delay: [1, 27], reorder: 0.2, longReorder: 0.02 } });
    awaitLeader(sim, 10_000);
    one(sim, 'start', 1, 20_000);
    let connected = 5;
    const down = new Set<string>();
    for (let i = 0; i < rounds; i++) {
      if (i === rounds - Math.min(200, rounds / 5)) sim.setNetwork({ longReorder: 0 });
      let leader: string | undefined;
      for (const id of sim.ids) if (sim.propose(id, `u${i}`).isLeader) leader = id;
      sim.run(sim.random.chance(0.1) ? sim.random.int(0, 500) : sim.random.int(0, 13));
      if (leader !== undefined && sim.random.chance(0.5)) {
        sim.disconnect(leader);
        down.add(leader);
        connected--;
      }
      if (connected < 3) {
        const s = sim.random.pick(sim.ids);
        if (down.has(s)) {
          sim.connect(s);
          down.delete(s);
          connected++;
        }
      }
    }
    sim.heal();
    sim.setNetwork({ drop: 0, duplicate: 0, reorder: 0, longReorder: 0, delay: [1, 5] });
    one(sim, 'end', 5, 20_000);
  });
});
