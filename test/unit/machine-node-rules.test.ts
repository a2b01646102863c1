/**
 * The statechart's rules for terms, elections, the leader's lease, AppendEntries and a leader's
 * first steps, on a real actor with a virtual clock, through the public machine only. Written
 * against the mutants Stryker left alive in the helpers and named guards and actions of
 * machines/raft-node.ts: each test names the rule (Figure 2 of the Raft paper, §3.10, §4.2.3, §9.6)
 * whose breaking it would catch.
 */
import { describe, expect, it } from 'vitest';
import type { RaftEffect, RaftNodeInput } from '../../machines/raft-node.js';
import { configCommand } from '../../src/core/configuration.js';
import { NOOP, type AppendEntries, type AppendEntriesResult, type LogEntry, type RequestVote, type RequestVoteResult } from '../../src/core/types.js';
import { node } from './machine-actor.js';

type Node = ReturnType<typeof node>;

function entry(index: number, term: number, command: unknown = `x${index}`): LogEntry {
  return { index, term, command };
}

function append(fields: Partial<AppendEntries> = {}): AppendEntries {
  return { type: 'rpc.appendEntries', from: 'n2', term: 1, leaderId: 'n2', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 0, ...fields };
}

function vote(from: string, term: number, extra: Partial<RequestVoteResult> = {}): RequestVoteResult {
  return { type: 'rpc.requestVoteResult', from, term, voteGranted: true, ...extra };
}

function accepted(from: string, term: number, matchIndex: number): AppendEntriesResult {
  return { type: 'rpc.appendEntriesResult', from, term, requestTerm: term, success: true, matchIndex, rejectedIndex: 0, conflictTerm: 0, conflictIndex: 0, seq: 0 };
}

/** n3 asks, up to date with any log here, whether we would vote for it in `term`. */
function preVoteRequest(term: number): RequestVote {
  return { type: 'rpc.requestVote', from: 'n3', term, candidateId: 'n3', lastLogIndex: 50, lastLogTerm: 50, preVote: true };
}

/** Sends n3's pre-vote request for `term` and returns whether it was granted (a pre-vote changes nothing at the voter). */
function grantsPreVote(n: Node, term: number): boolean {
  const before = n.effects.length;
  n.actor.send(preVoteRequest(term));
  const answers = n.effects.slice(before).flatMap((e) => (e.type === 'send' && e.message.type === 'rpc.requestVoteResult' ? [e.message] : []));
  expect(answers).toHaveLength(1);
  return (answers[0] as RequestVoteResult).voteGranted;
}

function ofType<T extends RaftEffect['type']>(effects: readonly RaftEffect[], type: T): Extract<RaftEffect, { type: T }>[] {
  return effects.filter((e): e is Extract<RaftEffect, { type: T }> => e.type === type);
}

/** n1 wins term 2 with n2's vote (n1's term-1 log: `log`); its first entry follows. */
function leaderOfTermTwo(input: Partial<RaftNodeInput> = {}, log: LogEntry[] = []) {
  const n = node({ persisted: { currentTerm: 1, votedFor: null, log }, ...input });
  n.clock.advance(100);
  n.actor.send(vote('n2', 2));
  expect(n.role()).toBe('leader');
  return n;
}

describe('a higher term, in every role (Figure 2, All Servers)', () => {
  it('a follower that adopts a higher term persists it with no vote and no entries, and announces it no longer knows a leader', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: 'n2', log: [] } });
    n.actor.send(append());
    n.drain();
    n.actor.send(accepted('n3', 3, 0));
    expect(n.effects).toStrictEqual([
      { type: 'persist', hardState: { currentTerm: 3, votedFor: null }, entries: [] },
      { type: 'leaderChanged', leaderId: null, term: 3 },
    ]);
    expect(n.context().leaderId).toBe(null);
  });

  it('a follower that knew no leader announces no change of leader when it adopts a higher term', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.drain();
    n.actor.send(accepted('n3', 3, 0));
    expect(n.effects).toStrictEqual([{ type: 'persist', hardState: { currentTerm: 3, votedFor: null }, entries: [] }]);
  });

  it("the old term's leader is not live in the new one: after adopting a higher term the follower grants a pre-vote at once", () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(append());
    expect(grantsPreVote(n, 2)).toBe(false); // the leader of term 1 is live
    n.actor.send(accepted('n3', 3, 0));
    expect(n.context().currentTerm).toBe(3);
    expect(grantsPreVote(n, 4)).toBe(true);
  });

  it('a granted (real) vote carrying a higher term is adopted like any other message: only a pre-vote grant is exempt', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(vote('n2', 3));
    expect(n.context().currentTerm).toBe(3);
  });

  it('a refused pre-vote carrying a higher term makes the pre-candidate adopt it and follow', () => {
    const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(100);
    expect(n.role()).toBe('preCandidate');
    n.actor.send(vote('n2', 3, { voteGranted: false, preVote: true }));
    expect(n.role()).toBe('follower');
    expect(n.context().currentTerm).toBe(3);
  });

  it('a refused pre-vote that names the very term asked about is not a grant: the pre-candidate adopts that term and follows', () => {
    const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(100);
    n.actor.send(vote('n2', 2, { voteGranted: false, preVote: true }));
    expect(n.role()).toBe('follower');
    expect(n.context().currentTerm).toBe(2);
    expect(n.context().votes).toEqual(['n1']);
  });
});

describe('counting votes (§5.2) and pre-votes (§9.6)', () => {
  it('a candidate does not count a vote granted in an earlier term', () => {
    const n = node({ persisted: { currentTerm: 2, votedFor: null, log: [] } });
    n.clock.advance(100);
    expect([n.role(), n.context().currentTerm]).toEqual(['candidate', 3]);
    n.actor.send(vote('n2', 2));
    expect(n.role()).toBe('candidate');
    expect(n.context().votes).toEqual(['n1']);
  });

  it('a pre-vote grant that arrives after the election began is not a vote', () => {
    const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(100);
    n.actor.send(vote('n2', 2, { preVote: true }));
    expect([n.role(), n.context().currentTerm]).toEqual(['candidate', 2]);
    n.actor.send(vote('n3', 2, { preVote: true }));
    expect(n.role()).toBe('candidate');
    expect(n.context().votes).toEqual(['n1']);
  });

  it('a pre-candidate counts only pre-vote grants for the term it asked about', () => {
    const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(100); // asks about term 2
    n.actor.send(vote('n2', 1, { preVote: true })); // a grant about term 1
    n.actor.send(vote('n3', 3, { preVote: true })); // a grant about term 3
    expect(n.role()).toBe('preCandidate');
    expect(n.context().votes).toEqual(['n1']);
    expect(n.context().currentTerm).toBe(1);
  });
});

describe('starting a pre-vote or an election', () => {
  it('a pre-candidate announces its role in its current term and no longer counts on the leader it heard', () => {
    const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(append());
    n.drain();
    n.clock.advance(100);
    expect(n.role()).toBe('preCandidate');
    expect(ofType(n.effects, 'roleChanged')).toEqual([{ type: 'roleChanged', role: 'preCandidate', term: 1 }]);
    expect(ofType(n.effects, 'persist')).toEqual([]);
    expect(grantsPreVote(n, 2)).toBe(true);
  });

  it('a candidate persists its new term and its own vote (no entries), and announces that the leader it followed is gone', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(append());
    n.drain();
    n.clock.advance(100);
    expect(n.role()).toBe('candidate');
    expect(ofType(n.effects, 'persist')).toStrictEqual([{ type: 'persist', hardState: { currentTerm: 2, votedFor: 'n1' }, entries: [] }]);
    expect(ofType(n.effects, 'leaderChanged')).toEqual([{ type: 'leaderChanged', leaderId: null, term: 2 }]);
    expect(grantsPreVote(n, 3)).toBe(true);
  });

  it('a candidate that followed no leader announces no change of leader', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.drain();
    n.clock.advance(100);
    expect(n.role()).toBe('candidate');
    expect(ofType(n.effects, 'leaderChanged')).toEqual([]);
  });

  it('a voter asked again by the candidate it voted for grants again without persisting anew', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    const request: RequestVote = { type: 'rpc.requestVote', from: 'n2', term: 1, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 };
    n.drain();
    n.actor.send(request);
    expect(ofType(n.effects, 'persist')).toStrictEqual([{ type: 'persist', hardState: { currentTerm: 1, votedFor: 'n2' }, entries: [] }]);
    n.drain();
    n.actor.send(request);
    expect(n.effects).toEqual([{ type: 'send', to: 'n2', message: { type: 'rpc.requestVoteResult', from: 'n1', term: 1, voteGranted: true } }]);
  });
});

describe('timers drawn from the seeded generator', () => {
  it('every election timeout is a fresh draw, and the timer fires exactly then', () => {
    const n = node({ electionTimeout: [100, 300], seed: 2 });
    const first = n.context().electionDelay;
    expect(first).toBeGreaterThanOrEqual(100);
    expect(first).toBeLessThanOrEqual(300);
    n.clock.advance(first - 1);
    expect(n.role()).toBe('follower');
    n.clock.advance(1);
    expect(n.role()).toBe('candidate');
    const second = n.context().electionDelay;
    expect(second).not.toBe(first);
    n.clock.advance(second - 1);
    expect(n.context().currentTerm).toBe(1);
    n.clock.advance(1);
    expect(n.context().currentTerm).toBe(2);
  });

  it("a follower stops counting on its leader a shortest election timeout after it last heard from it, before its own timer fires (the leader's lease)", () => {
    const n = node({ electionTimeout: [100, 300], seed: 2, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(append());
    expect(n.context().electionDelay).toBeGreaterThan(150);
    n.clock.advance(99);
    expect(grantsPreVote(n, 2)).toBe(false);
    n.clock.advance(1);
    expect(n.role()).toBe('follower');
    expect(grantsPreVote(n, 2)).toBe(true);
  });

  it('a new leader runs its first check-quorum one fresh election timeout after taking office', () => {
    const n = node({ electionTimeout: [100, 300], seed: 2, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(n.context().electionDelay);
    expect(n.role()).toBe('candidate');
    const candidateDelay = n.context().electionDelay;
    n.clock.advance(10);
    n.actor.send(vote('n2', 2));
    expect(n.role()).toBe('leader');
    const delay = n.context().electionDelay;
    expect(delay).not.toBe(candidateDelay);
    // Nobody answers: the check fails and the leader steps down — then, not when the candidate's timer was due.
    n.clock.advance(delay - 1);
    expect(n.role()).toBe('leader');
    n.clock.advance(1);
    expect(n.role()).toBe('follower');
    expect(ofType(n.effects, 'leaderChanged').at(-1)).toEqual({ type: 'leaderChanged', leaderId: null, term: 2 });
  });

  it('a leader without check-quorum keeps no election timer: it draws nothing from the generator and stays in office unanswered', () => {
    const n = node({ checkQuorum: false, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(100);
    const { rng, electionDelay } = n.context();
    n.actor.send(vote('n2', 2));
    expect(n.role()).toBe('leader');
    expect(n.context().rng).toEqual(rng);
    n.clock.advance(1000);
    expect(n.role()).toBe('leader');
    expect([n.context().rng, n.context().electionDelay]).toEqual([rng, electionDelay]);
  });
});

describe('recognizing the leader of the term', () => {
  it('a follower announces the leader on its first AppendEntries and counts it as live (it refuses pre-votes)', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.drain();
    n.actor.send(append());
    expect(ofType(n.effects, 'leaderChanged')).toEqual([{ type: 'leaderChanged', leaderId: 'n2', term: 1 }]);
    expect(grantsPreVote(n, 2)).toBe(false);
  });

  it("the known leader's AppendEntries after its lease ran out makes it live again, without a new announcement", () => {
    const n = node({ electionTimeout: [100, 300], seed: 2, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(append());
    n.clock.advance(100);
    expect(n.context().heardFromLeader).toBe(false);
    n.drain();
    n.actor.send(append());
    expect(ofType(n.effects, 'leaderChanged')).toEqual([]);
    expect(n.role()).toBe('follower');
    expect(grantsPreVote(n, 2)).toBe(false);
  });

  it('an AppendEntries from a second leader of the same term is reported, naming both leaders and the term', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.actor.send(append());
    n.drain();
    n.actor.send(append({ from: 'n3', leaderId: 'n3' }));
    expect(ofType(n.effects, 'invariantViolation')).toEqual([
      { type: 'invariantViolation', rule: 'at most one leader per term', detail: 'n1 follows n2 in term 1 and received rpc.appendEntries from n3 for the same term' },
    ]);
  });
});

describe('AppendEntries receiver (Figure 2, rules 2–5)', () => {
  const log = [entry(1, 1), entry(2, 1)];

  it('a heartbeat that brings nothing new persists nothing', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log } });
    n.drain();
    n.actor.send(append({ prevLogIndex: 2, prevLogTerm: 1 }));
    expect(ofType(n.effects, 'persist')).toEqual([]);
  });

  it('new entries are persisted with the hard state and no truncation', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: 'n2', log } });
    n.drain();
    n.actor.send(append({ prevLogIndex: 2, prevLogTerm: 1, entries: [entry(3, 1)] }));
    expect(ofType(n.effects, 'persist')).toStrictEqual([{ type: 'persist', hardState: { currentTerm: 1, votedFor: 'n2' }, entries: [entry(3, 1)] }]);
  });

  it('a conflicting suffix is truncated and replaced in one persist', () => {
    const n = node({ persisted: { currentTerm: 2, votedFor: null, log: [...log, entry(3, 1)] } });
    n.drain();
    n.actor.send(append({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2)] }));
    expect(ofType(n.effects, 'persist')).toStrictEqual([{ type: 'persist', hardState: { currentTerm: 2, votedFor: null }, entries: [entry(2, 2)], truncateFrom: 2 }]);
    expect(n.context().log.lastIndex).toBe(2);
  });

  it('a leader that would truncate a committed entry is reported, naming it, the term and the indexes, and nothing changes', () => {
    const n = node({ persisted: { currentTerm: 2, votedFor: null, log: [...log, entry(3, 1)] } });
    n.actor.send(append({ term: 2, prevLogIndex: 3, prevLogTerm: 1, leaderCommit: 2 }));
    expect(n.context().commitIndex).toBe(2);
    n.drain();
    n.actor.send(append({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2)] }));
    expect(ofType(n.effects, 'invariantViolation')).toEqual([
      { type: 'invariantViolation', rule: 'committed entries are never truncated', detail: 'leader n2 term 2 conflicts at 2 ≤ commitIndex 2' },
    ]);
    expect(ofType(n.effects, 'persist')).toEqual([]);
    expect(n.context().log.termAt(2)).toBe(1);
  });

  it('a prevLogIndex inside our snapshot matches (its entries are committed): the entries after the snapshot are taken', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [entry(4, 1)], snapshot: { index: 3, term: 1, data: 'S3' } } });
    n.drain();
    n.actor.send(append({ prevLogIndex: 2, prevLogTerm: 1, entries: [entry(3, 1), entry(4, 1), entry(5, 1)] }));
    const answers = n.effects.flatMap((e) => (e.type === 'send' && e.message.type === 'rpc.appendEntriesResult' ? [e.message] : []));
    expect(answers.map((a) => [a.success, a.matchIndex])).toEqual([[true, 5]]);
    expect(n.context().log.lastIndex).toBe(5);
  });

  it("a prevLogIndex at our snapshot's index must name the snapshot's term", () => {
    const n = node({ persisted: { currentTerm: 2, votedFor: null, log: [], snapshot: { index: 3, term: 1, data: 'S3' } } });
    n.drain();
    n.actor.send(append({ term: 2, prevLogIndex: 3, prevLogTerm: 2, entries: [entry(4, 2)] }));
    const answers = n.effects.flatMap((e) => (e.type === 'send' && e.message.type === 'rpc.appendEntriesResult' ? [e.message] : []));
    expect(answers.map((a) => [a.success, a.rejectedIndex])).toEqual([[false, 3]]);
    expect(n.context().log.lastIndex).toBe(3);
  });
});

describe("a new leader's first steps and the rules it applies", () => {
  it('a new leader announces itself, forgets the votes it counted, and as the live leader refuses pre-votes', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.clock.advance(100);
    n.drain();
    n.actor.send(vote('n2', 2));
    expect(n.role()).toBe('leader');
    expect(ofType(n.effects, 'leaderChanged')).toEqual([{ type: 'leaderChanged', leaderId: 'n1', term: 2 }]);
    expect(n.context().votes).toEqual([]);
    expect(grantsPreVote(n, 3)).toBe(false);
  });

  it("a leader that steps down leaves no heartbeat timer behind: only the follower's election and lease timers are pending", () => {
    const n = leaderOfTermTwo(); // took office at 100: its first heartbeat is due at 120
    n.clock.advance(10);
    n.actor.send(append({ term: 3, from: 'n3', leaderId: 'n3' }));
    expect(n.role()).toBe('follower');
    expect(n.clock.pending).toBe(2);
    expect(n.clock.peek()).toBe(210);
  });

  it("a batch that mixes a client's command with one of Raft's own is refused whole", () => {
    const n = leaderOfTermTwo();
    n.drain();
    n.actor.send({ type: 'client.propose', commands: ['x', NOOP], requestId: 'p1' });
    expect(n.effects).toEqual([{ type: 'proposalRejected', leaderId: 'n1', reserved: true, requestId: 'p1' }]);
  });

  it('leadership is not handed to a server that is not another voter of the cluster', () => {
    const n = leaderOfTermTwo();
    n.drain();
    n.actor.send({ type: 'client.transferLeadership', to: 'n9', requestId: 't1' });
    expect(ofType(n.effects, 'transferStarted')).toEqual([]);
    expect(ofType(n.effects, 'transferEnded').map((e) => [e.to, e.outcome])).toEqual([['n9', 'refused']]);
    expect(n.context().transfer).toBeUndefined();
  });

  it('check-quorum counts only voters of the configuration in force: answers from a server just removed keep no leader in office', () => {
    const n = leaderOfTermTwo();
    n.actor.send(accepted('n3', 2, 1)); // n3 holds the first entry: committed, and n3 is active
    expect(n.context().commitIndex).toBe(1);
    n.actor.send({ type: 'client.changeConfig', change: { type: 'removeServer', id: 'n3' }, requestId: 'c1' });
    expect(n.context().config.voters).toEqual(['n1', 'n2']);
    expect(n.context().recentlyActive).toEqual(['n3']);
    n.clock.advance(100); // the check: of the voters n1 and n2, only n1 is known active
    expect(n.role()).toBe('follower');
  });

  it('a held change that became invalid meanwhile is refused when its turn comes, and nothing is appended', () => {
    // n4 is a learner; it has caught up when the new leader is asked to promote it, so the change is held
    // (nothing of term 2 is committed yet). Then the leader appends more than a learner may lag behind.
    const n = leaderOfTermTwo({}, [entry(1, 1, configCommand({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] }))]);
    n.actor.send(accepted('n4', 2, 2));
    n.actor.send({ type: 'client.changeConfig', change: { type: 'promote', id: 'n4' }, requestId: 'c1' });
    expect(n.context().heldConfigChange).toEqual({ change: { type: 'promote', id: 'n4' }, requestId: 'c1' });
    n.actor.send({ type: 'client.propose', commands: Array.from({ length: 1001 }, (_, i) => `c${i}`) });
    const last = n.context().log.lastIndex;
    n.drain();
    n.actor.send(accepted('n2', 2, last));
    expect(n.context().commitIndex).toBe(last);
    const rejected = ofType(n.effects, 'configChangeRejected');
    expect(rejected.map((e) => [e.requestId, e.reason, e.leaderId])).toEqual([['c1', 'invalid', 'n1']]);
    expect(rejected[0]?.detail).toContain('lags behind');
    expect(ofType(n.effects, 'configChangeAccepted')).toEqual([]);
    expect(n.context().log.lastIndex).toBe(last);
    expect(n.context().heldConfigChange).toBeUndefined();
  });

  it("a follower's installed snapshot counts toward commitment like an accepted AppendEntries", () => {
    const n = leaderOfTermTwo();
    n.actor.send({ type: 'rpc.installSnapshotResult', from: 'n2', term: 2, requestTerm: 2, lastIncludedIndex: 1, offset: 5, installed: true, seq: 0 });
    expect(n.context().matchIndex.n2).toBe(1);
    expect(n.context().commitIndex).toBe(1);
  });
});
