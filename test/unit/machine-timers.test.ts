/**
 * The statechart's timer rules, on a real actor with a virtual clock (the model tests deliver
 * timeouts themselves, so they cannot see whether a timer was reset). Election timeout fixed at
 * 100 ms so the deadlines are exact.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { raftNodeMachine, type RaftNodeInput } from '../../machines/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';

function node(input: Partial<RaftNodeInput> = {}) {
  const clock = new VirtualClock();
  const actor = createActor(raftNodeMachine, {
    input: { id: 'n1', peers: ['n1', 'n2', 'n3'], electionTimeout: [100, 100], heartbeatInterval: 20, ...input },
    clock,
  }).start();
  return { actor, clock, role: () => actor.getSnapshot().value };
}

const heartbeat = { type: 'rpc.appendEntries', from: 'n2', term: 1, leaderId: 'n2', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 0 } as const;

describe('timers of the node statechart', () => {
  it('a follower that hears nothing for an election timeout stands for election (pre-vote first)', () => {
    const { clock, role } = node();
    clock.advance(99);
    expect(role()).toBe('follower');
    clock.advance(1);
    expect(role()).toBe('preCandidate');
  });

  it('without pre-vote, the election timeout makes the follower a candidate of the next term', () => {
    const { actor, clock, role } = node({ preVote: false });
    clock.advance(100);
    expect(role()).toBe('candidate');
    expect(actor.getSnapshot().context.currentTerm).toBe(1);
  });

  it('a valid AppendEntries from the leader of our term resets the election timer', () => {
    const { actor, clock, role } = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    for (let t = 0; t < 10; t++) {
      clock.advance(80);
      expect(role(), `after ${80 * (t + 1)} ms`).toBe('follower'); // never timed out in between
      actor.send(heartbeat);
    }
    clock.advance(100);
    expect(role()).toBe('preCandidate');
  });

  it('a stale AppendEntries does not reset the election timer', () => {
    const { actor, clock, role } = node({ persisted: { currentTerm: 2, votedFor: null, log: [] } });
    clock.advance(80);
    actor.send(heartbeat); // term 1 < 2: refused
    clock.advance(20);
    expect(role()).toBe('preCandidate');
  });

  it('granting a vote resets the election timer; denying one does not', () => {
    // Same term, so the vote is not masked by the re-entry into follower that a higher term causes.
    const granted = node({ preVote: false, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    granted.clock.advance(80);
    granted.actor.send({ type: 'rpc.requestVote', from: 'n2', term: 1, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    expect(granted.actor.getSnapshot().context.votedFor).toBe('n2');
    granted.clock.advance(80);
    expect(granted.role()).toBe('follower');

    const denied = node({ preVote: false, persisted: { currentTerm: 1, votedFor: 'n3', log: [] } });
    denied.clock.advance(80);
    denied.actor.send({ type: 'rpc.requestVote', from: 'n2', term: 1, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    denied.clock.advance(20);
    expect(denied.role()).toBe('candidate');
  });

  it('a leader sends heartbeats every heartbeatInterval', () => {
    const { actor, clock, role } = node({ preVote: false, checkQuorum: false });
    const sent: string[] = [];
    actor.on('send', (e) => sent.push(`${e.to}:${e.message.type}`));
    clock.advance(100);
    actor.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
    expect(role()).toBe('leader');
    sent.length = 0;
    clock.advance(100);
    expect(sent.filter((s) => s === 'n2:rpc.appendEntries')).toHaveLength(5);
    expect(sent.filter((s) => s === 'n3:rpc.appendEntries')).toHaveLength(5);
  });

  it('check-quorum: a leader that hears from no follower for an election timeout steps down; one that does stays', () => {
    const lonely = node({ preVote: false });
    lonely.clock.advance(100);
    lonely.actor.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
    expect(lonely.role()).toBe('leader');
    lonely.clock.advance(100);
    expect(lonely.role()).toBe('follower');
    expect(lonely.actor.getSnapshot().context.currentTerm).toBe(1);

    const heard = node({ preVote: false });
    heard.clock.advance(100);
    heard.actor.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
    for (let t = 0; t < 5; t++) {
      heard.clock.advance(40);
      heard.actor.send({
        type: 'rpc.appendEntriesResult',
        from: 'n2',
        term: 1,
        requestTerm: 1,
        success: true,
        matchIndex: 1,
        rejectedIndex: 0,
        conflictTerm: 0,
        conflictIndex: 0,
        seq: 0,
      });
    }
    expect(heard.role()).toBe('leader');
  });

  it("the leader's lease at a follower: pre-votes are denied for the shortest election timeout after the leader was heard, granted after it, before the follower's own timer fires", () => {
    // Timeouts 100–300 ms: the lease is 100 ms; this node's own timer is drawn above it.
    const { actor, clock, role } = node({ electionTimeout: [100, 300], persisted: { currentTerm: 1, votedFor: null, log: [] }, seed: 7 });
    const answers: boolean[] = [];
    actor.on('send', (e) => {
      if (e.message.type === 'rpc.requestVoteResult') answers.push(e.message.voteGranted);
    });
    const preVote = { type: 'rpc.requestVote', from: 'n3', term: 2, candidateId: 'n3', lastLogIndex: 0, lastLogTerm: 0, preVote: true } as const;
    actor.send(heartbeat);
    const ownTimer = actor.getSnapshot().context.electionDelay;
    expect(ownTimer).toBeGreaterThan(110);
    clock.advance(99);
    actor.send(preVote);
    clock.advance(2);
    actor.send(preVote);
    expect(role()).toBe('follower'); // its own timer has not fired
    expect(answers).toEqual([false, true]);
    // Hearing from the leader again renews the lease.
    actor.send(heartbeat);
    actor.send(preVote);
    expect(answers).toEqual([false, true, false]);
  });
});
