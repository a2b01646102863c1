/**
 * Rules of the statechart that an adversarial review found broken (issue 8, holes 1, 2, 6, 7), on a
 * real actor with a virtual clock, through the public machine only. Each test failed on the code
 * before its fix.
 */
import { describe, expect, it } from 'vitest';
import type { AppendEntriesResult, RequestVoteResult } from '../../src/core/types.js';
import { node } from './machine-actor.js';

function vote(from: string, term: number, extra: Partial<RequestVoteResult> = {}): RequestVoteResult {
  return { type: 'rpc.requestVoteResult', from, term, voteGranted: true, ...extra };
}

function reply(from: string, term: number, requestTerm: number, fields: Partial<AppendEntriesResult>): AppendEntriesResult {
  return {
    type: 'rpc.appendEntriesResult',
    from,
    term,
    requestTerm,
    success: false,
    matchIndex: 0,
    rejectedIndex: 0,
    conflictTerm: 0,
    conflictIndex: 0,
    seq: 0,
    ...fields,
  };
}

/**
 * n1 led term 1 (its entry at index 1 is from then) and now leads term 2: its no-op (index 2) is
 * committed with n2's acknowledgement, and one read waits for its confirmation round (round 1 —
 * rounds start again at 0 with every leadership, so round 1 also existed in term 1).
 */
function leaderOfTermTwoWithPendingRead() {
  const n = node({ persisted: { currentTerm: 1, votedFor: 'n1', log: [{ term: 1, index: 1, command: 'x' }] } });
  n.clock.advance(100); // candidate of term 2
  n.actor.send(vote('n2', 2));
  expect(n.role()).toBe('leader');
  n.actor.send(reply('n2', 2, 2, { success: true, matchIndex: 2 }));
  expect(n.context().commitIndex).toBe(2);
  n.actor.send({ type: 'client.read', requestIds: ['r1'] });
  expect(n.context().readSeq).toBe(1);
  n.effects.length = 0;
  return n;
}

describe('a reply counts only for the request of the term it answers', () => {
  it("a refusal of a term-1 AppendEntries, carrying the follower's term 2, does not confirm a read of term 2 (hole 1: stale read)", () => {
    const n = leaderOfTermTwoWithPendingRead();
    // n2 refuses n1's delayed term-1 heartbeat of round 1 while in term 2, and the refusal arrives late.
    n.actor.send(reply('n2', 2, 1, { rejectedIndex: 1, conflictTerm: 1, conflictIndex: 1, seq: 1 }));
    expect(n.effects.filter((e) => e.type === 'readReady')).toEqual([]);
    expect(n.context().reads).toHaveLength(1);
    expect(n.context().ackedSeq.n2 ?? 0).toBe(0);
    // The answer of this term's round does confirm it.
    n.actor.send(reply('n2', 2, 2, { success: true, matchIndex: 2, seq: 1 }));
    expect(n.effects.filter((e) => e.type === 'readReady')).toEqual([{ type: 'readReady', requestIds: ['r1'], index: 2 }]);
  });

  it('that late refusal is not reported as an invariant violation, and does not move nextIndex back (hole 2)', () => {
    const n = leaderOfTermTwoWithPendingRead();
    const before = { nextIndex: n.context().nextIndex, matchIndex: n.context().matchIndex, recentlyActive: n.context().recentlyActive };
    // About an index this leader's log does not hold (term 1's log was longer), from n2 ...
    n.actor.send(reply('n2', 2, 1, { rejectedIndex: 7, conflictTerm: 1, conflictIndex: 1, seq: 1 }));
    // ... and about the probe n3 is waiting on, which would send n3 the whole log again.
    n.actor.send(reply('n3', 2, 1, { rejectedIndex: 1, conflictTerm: 0, conflictIndex: 1, seq: 0 }));
    expect(n.effects).toEqual([]);
    expect(n.context().nextIndex).toEqual(before.nextIndex);
    expect(n.context().matchIndex).toEqual(before.matchIndex);
    expect(n.context().recentlyActive).toEqual(before.recentlyActive);
  });

  it("a refusal of an earlier term's request from a later term still deposes the leader (the higher-term rule holds for every reply)", () => {
    const n = leaderOfTermTwoWithPendingRead();
    n.actor.send(reply('n2', 3, 1, { rejectedIndex: 1, seq: 1 }));
    expect(n.role()).toBe('follower');
    expect(n.context().currentTerm).toBe(3);
  });

  it('a follower answers every AppendEntries with the term of the request it answers', () => {
    const n = node({ persisted: { currentTerm: 2, votedFor: null, log: [] } });
    const heartbeat = { type: 'rpc.appendEntries', leaderId: 'n2', from: 'n2', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 4 } as const;
    n.actor.send({ ...heartbeat, term: 1 }); // stale: refused with our term 2
    n.actor.send({ ...heartbeat, term: 2 }); // accepted
    const answers = n.effects.flatMap((e) => (e.type === 'send' && e.message.type === 'rpc.appendEntriesResult' ? [e.message] : []));
    expect(answers.map((a) => [a.term, a.requestTerm, a.success, a.seq])).toEqual([
      [2, 1, false, 4],
      [2, 2, true, 4],
    ]);
  });
});

describe('the election timer resets only on a valid AppendEntries or a granted vote (Figure 2)', () => {
  it("a denied RequestVote of a higher term does not reset a follower's election timer (hole 6)", () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [{ term: 1, index: 1, command: 'x' }] } });
    n.clock.advance(80);
    // n2 campaigns in term 2 with an empty log: n1 adopts term 2 and denies the vote.
    n.actor.send({ type: 'rpc.requestVote', from: 'n2', term: 2, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    expect(n.context().currentTerm).toBe(2);
    expect(n.context().votedFor).toBe(null);
    expect(n.effects.filter((e) => e.type === 'roleChanged').map((e) => e.type === 'roleChanged' && e.role)).toEqual(['follower']); // only at start
    n.clock.advance(20);
    expect(n.role()).toBe('candidate'); // the timer armed at 0 fired at 100
    expect(n.context().currentTerm).toBe(3);
  });

  it("a higher-term reply does not reset a follower's election timer either", () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(80);
    n.actor.send(reply('n2', 4, 1, { seq: 0 }));
    expect(n.context().currentTerm).toBe(4);
    n.clock.advance(20);
    expect(n.role()).toBe('candidate');
  });

  it('a granted RequestVote of a higher term does reset it', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(80);
    n.actor.send({ type: 'rpc.requestVote', from: 'n2', term: 2, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    expect(n.context().votedFor).toBe('n2');
    n.clock.advance(99);
    expect(n.role()).toBe('follower');
    n.clock.advance(1);
    expect(n.role()).toBe('candidate');
  });

  it('a candidate or leader that learns a higher term becomes a follower with a fresh timer', () => {
    const n = node();
    n.clock.advance(100);
    expect(n.role()).toBe('candidate');
    n.actor.send({ type: 'rpc.requestVote', from: 'n2', term: 5, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    expect(n.role()).toBe('follower');
    expect(n.context().currentTerm).toBe(5);
  });
});

describe('only voters of the configuration count', () => {
  it('grants from ids outside the configuration do not elect a candidate (hole 7)', () => {
    const n = node({ peers: ['n1', 'n2', 'n3', 'n4', 'n5'] });
    n.clock.advance(100);
    expect(n.role()).toBe('candidate');
    for (const stranger of ['x1', 'x2', 'x3', 'n1']) n.actor.send(vote(stranger, 1));
    expect(n.role()).toBe('candidate');
    expect(n.context().votes).toEqual(['n1']);
    n.actor.send(vote('n2', 1));
    n.actor.send(vote('n3', 1));
    expect(n.role()).toBe('leader');
  });

  it('pre-vote grants from ids outside the configuration do not start an election', () => {
    const n = node({ preVote: true });
    n.clock.advance(100);
    expect(n.role()).toBe('preCandidate');
    n.actor.send(vote('x1', 1, { preVote: true }));
    n.actor.send(vote('x2', 1, { preVote: true }));
    expect(n.role()).toBe('preCandidate');
    n.actor.send(vote('n3', 1, { preVote: true }));
    expect(n.role()).toBe('candidate');
  });

  it('acknowledgements from ids outside the configuration do not commit or confirm reads', () => {
    const n = node();
    n.clock.advance(100);
    n.actor.send(vote('n2', 1));
    expect(n.role()).toBe('leader');
    n.actor.send(reply('x1', 1, 1, { success: true, matchIndex: 1 }));
    expect(n.context().commitIndex).toBe(0);
    expect(n.effects.filter((e) => e.type === 'invariantViolation')).toEqual([]);
  });
});
