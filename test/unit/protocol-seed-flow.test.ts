/**
 * The seed's own election flow, without a network: start_election(), request_vote(...) on each
 * other node, is_consensus_reached(replies), become_leader(). The class never fakes leadership:
 * become_leader delivers the granted votes of the current term to the actor, which counts them by
 * its own rules, or throws NotElectedError.
 */
import { describe, expect, it } from 'vitest';
import type { NodeId } from '../../src/core/types.js';
import { NotElectedError } from '../../src/errors.js';
import { ConsensusProtocol, type ConsensusResponse } from '../../src/protocol.js';

/** The first leader of a cluster writes its bootstrap configuration down as its first entry (in place of the no-op). */
const bootstrapConfig = (voters: string[]) => ({ type: 'raft.config', voters, learners: [] });

function nodes(ids: readonly NodeId[]): ConsensusProtocol[] {
  return ids.map((id) => new ConsensusProtocol(id, ids));
}

/** What must not move when become_leader refuses. */
function fingerprint(cp: ConsensusProtocol) {
  return { state: cp.state, currentTerm: cp.currentTerm, votedFor: cp.votedFor, log: cp.log, votes: cp.votes, nextIndex: cp.nextIndex, matchIndex: cp.matchIndex };
}

function expectNotElected(cp: ConsensusProtocol, fn: () => unknown, pattern?: RegExp): void {
  const before = fingerprint(cp);
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(NotElectedError);
  if (pattern !== undefined) expect((thrown as Error).message).toMatch(pattern);
  expect(fingerprint(cp)).toEqual(before);
}

describe("the seed's election flow by hand: start_election, request_vote, is_consensus_reached, become_leader", () => {
  it('request_vote answers who voted: { from, term, voteGranted }', () => {
    const [, n2] = nodes(['node1', 'node2', 'node3']);
    expect(n2?.request_vote(1, 'node1', 0, 0)).toMatchObject({ from: 'node2', term: 1, voteGranted: true });
  });

  it('after is_consensus_reached(replies) of its current term, become_leader() makes the candidate leader of that term', () => {
    const [n1, n2, n3] = nodes(['node1', 'node2', 'node3']) as [ConsensusProtocol, ConsensusProtocol, ConsensusProtocol];
    n1.start_election();
    const replies = [n2, n3].map((n) => n.request_vote(n1.current_term, n1.node_id, 0, 0));
    expect(n1.is_consensus_reached(replies)).toBe(true);
    const sent = n1.become_leader();
    expect(n1.state).toBe('leader');
    expect(n1.current_term).toBe(1);
    expect(n1.leaderId).toBe('node1');
    expect(n1.log.at(-1)).toEqual({ term: 1, index: 1, command: bootstrapConfig(['node1', 'node2', 'node3']) });
    expect(n1.nextIndex).toEqual({ node2: 1, node3: 1 });
    expect(n1.matchIndex).toEqual({ node2: 0, node3: 0 });
    // What it sends on taking office: its no-op, to each follower (carry it with receive()).
    expect(sent.map((s) => [s.to, s.message.type])).toEqual([
      ['node2', 'rpc.appendEntries'],
      ['node3', 'rpc.appendEntries'],
    ]);
    expect(() => n1.become_leader()).not.toThrow(); // a leader stays leader, quietly
  });

  it('become_leader(replies) does the same in one call', () => {
    const [a, b, c] = nodes(['a', 'b', 'c']) as [ConsensusProtocol, ConsensusProtocol, ConsensusProtocol];
    a.start_election();
    a.start_election(); // term 2
    const replies = [b.request_vote(2, 'a', 0, 0), c.request_vote(2, 'a', 0, 0)];
    a.become_leader(replies);
    expect(a.state).toBe('leader');
    expect(a.current_term).toBe(2);
    expect(a.log).toEqual([{ term: 2, index: 1, command: bootstrapConfig(['a', 'b', 'c']) }]);
    expect(a.nextIndex).toEqual({ b: 1, c: 1 });
  });

  it('with no evidence, become_leader() throws NotElectedError and changes nothing', () => {
    const [a] = nodes(['a', 'b', 'c']) as [ConsensusProtocol];
    a.start_election();
    expectNotElected(a, () => a.become_leader(), /candidate in term 1 holding 1 of 3 votes/);
    expect(a.votedFor).toBe('a');
    // The refusal is for want of evidence, not a refusal to ever lead: one granted vote elects it.
    a.become_leader([new ConsensusProtocol('b', ['a', 'b', 'c']).request_vote(1, 'a', 0, 0)]);
    expect(a.state).toBe('leader');
  });

  it('booleans cannot say who voted: NotElectedError, and the message says to pass the replies', () => {
    const [a] = nodes(['a', 'b', 'c']) as [ConsensusProtocol];
    a.start_election();
    expect(a.is_consensus_reached([true, true])).toBe(true);
    expectNotElected(a, () => a.become_leader(), /booleans cannot say who voted.*replies of requestVote/);
    expectNotElected(a, () => a.become_leader([true, true, true]), /booleans cannot say who voted/);
    a.become_leader([{ from: 'b', term: 1, voteGranted: true, candidateId: 'a' }]); // the same vote, saying who gave it and to whom
    expect(a.state).toBe('leader');
  });

  it('replies of an earlier term are not evidence', () => {
    const [a, b, c] = nodes(['a', 'b', 'c']) as [ConsensusProtocol, ConsensusProtocol, ConsensusProtocol];
    a.start_election();
    const replies = [b.request_vote(1, 'a', 0, 0), c.request_vote(1, 'a', 0, 0)];
    expect(a.is_consensus_reached(replies)).toBe(true);
    a.start_election(); // term 2: the term-1 votes are of another election
    expectNotElected(a, () => a.become_leader());
    expectNotElected(a, () => a.become_leader(replies));
    a.become_leader([b.request_vote(2, 'a', 0, 0)]);
    expect(a.state).toBe('leader');
    expect(a.current_term).toBe(2);
  });

  it('denied replies are not evidence', () => {
    const [a, b, c] = nodes(['a', 'b', 'c']) as [ConsensusProtocol, ConsensusProtocol, ConsensusProtocol];
    b.request_vote(1, 'c', 0, 0); // b and c already voted for c in term 1
    c.start_election();
    a.start_election();
    const replies = [b.request_vote(1, 'a', 0, 0), { from: 'c', term: 1, voteGranted: false }];
    expect(replies[0]).toMatchObject({ from: 'b', term: 1, voteGranted: false });
    expect(a.is_consensus_reached(replies)).toBe(false);
    expectNotElected(a, () => a.become_leader());
    expectNotElected(a, () => a.become_leader(replies));
  });

  it('a minority of granted votes does not elect (5 nodes: itself and one other)', () => {
    const [a, b] = nodes(['a', 'b', 'c', 'd', 'e']) as [ConsensusProtocol, ConsensusProtocol];
    a.start_election();
    const replies: ConsensusResponse[] = [b.request_vote(1, 'a', 0, 0), { from: 'c', term: 1, voteGranted: false }];
    expect(a.is_consensus_reached(replies)).toBe(false);
    expect(() => a.become_leader()).toThrow(/holding 2 of 5 votes/);
    expect(() => a.become_leader(replies)).toThrow(NotElectedError);
    expect(a.state).toBe('candidate');
    expect(a.current_term).toBe(1);
    expect(a.log).toEqual([]);
  });

  it('a duplicated reply counts once', () => {
    const [a, b] = nodes(['a', 'b', 'c', 'd', 'e']) as [ConsensusProtocol, ConsensusProtocol];
    a.start_election();
    const fromB = b.request_vote(1, 'a', 0, 0);
    expect(() => a.become_leader([fromB, fromB, fromB])).toThrow(/holding 2 of 5 votes/);
    expect(a.state).toBe('candidate');
  });

  it('a follower is not made leader by replies', () => {
    const [a] = nodes(['a', 'b', 'c']) as [ConsensusProtocol];
    a.request_vote(1, 'b', 0, 0); // a follows term 1, voted for b
    const forged = [
      { from: 'b', term: 1, voteGranted: true, candidateId: 'a' },
      { from: 'c', term: 1, voteGranted: true, candidateId: 'a' },
    ];
    expectNotElected(a, () => a.become_leader(forged), /a is a follower in term 1/);
    a.start_election(); // term 2: now the same kind of replies, of its own term, elect it
    a.become_leader([{ from: 'c', term: 2, voteGranted: true, candidateId: 'a' }]);
    expect(a.state).toBe('leader');
  });
});

describe('the seed flow never elects two leaders in one term', () => {
  it('a vote for one candidate, shown to another candidate of the same term, does not elect it', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((id) => new ConsensusProtocol(id, ['a', 'b', 'c'])) as [ConsensusProtocol, ConsensusProtocol, ConsensusProtocol];
    a.start_election();
    c.start_election();
    const forA = b.request_vote(1, 'a', 0, 0);
    expect(forA).toMatchObject({ from: 'b', term: 1, voteGranted: true, candidateId: 'a' });
    a.become_leader([forA]);
    expect(a.state).toBe('leader');
    expect(() => c.become_leader([forA])).toThrow(NotElectedError);
    expect(c.state).toBe('candidate');
  });
});
