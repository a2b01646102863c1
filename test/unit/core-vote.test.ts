import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/core/log.js';
import type { NodeId, Term } from '../../src/core/types.js';
import { canGrantVote, recordVote, type VoterState } from '../../src/core/vote.js';

function logOf(terms: readonly Term[]): RaftLog<string> {
  return RaftLog.from(terms.map((term, i) => ({ term, index: i + 1, command: `c${i + 1}` })));
}

function voter(currentTerm: Term, votedFor: NodeId | null, terms: readonly Term[] = []): VoterState {
  return { currentTerm, votedFor, log: logOf(terms) };
}

function request(term: Term, candidateId: NodeId, lastLogIndex = 0, lastLogTerm: Term = 0) {
  return { term, candidateId, lastLogIndex, lastLogTerm };
}

const termsArb = fc.array(fc.nat({ max: 2 }), { maxLength: 12 }).map((steps) => {
  let term = 1;
  return steps.map((step) => (term += step));
});

describe('RequestVote receiver (Figure 2)', () => {
  it("a vote is granted only if the candidate's log is at least as up to date: last term first, then length", () => {
    const v = voter(5, null, [1, 1, 2, 2, 3]);
    // Higher last term wins even with a shorter log.
    expect(canGrantVote(v, request(6, 'c', 2, 4))).toBe(true);
    // Lower last term loses even with a longer log.
    expect(canGrantVote(v, request(6, 'c', 50, 2))).toBe(false);
    // Same last term: at least as long wins, shorter loses.
    expect(canGrantVote(v, request(6, 'c', 5, 3))).toBe(true);
    expect(canGrantVote(v, request(6, 'c', 6, 3))).toBe(true);
    expect(canGrantVote(v, request(6, 'c', 4, 3))).toBe(false);
  });

  it('the up-to-date comparison decides every vote that term and prior vote allow (property)', () => {
    fc.assert(
      fc.property(termsArb, termsArb, (voterTerms, candidateTerms) => {
        const v = voter(10, null, voterTerms);
        const cTerm = candidateTerms.at(-1) ?? 0;
        const vTerm = voterTerms.at(-1) ?? 0;
        const upToDate = cTerm > vTerm || (cTerm === vTerm && candidateTerms.length >= voterTerms.length);
        expect(canGrantVote(v, request(11, 'c', candidateTerms.length, cTerm))).toBe(upToDate);
        expect(canGrantVote(v, request(10, 'c', candidateTerms.length, cTerm))).toBe(upToDate);
      }),
    );
  });

  it("a RequestVote from an earlier term is never granted, however good the candidate's log", () => {
    expect(canGrantVote(voter(5, null), request(4, 'c', 100, 4))).toBe(false);
    expect(canGrantVote(voter(5, 'c'), request(4, 'c', 100, 4))).toBe(false);
  });

  it('at most one vote per term: having voted for A, the voter refuses B in the same term', () => {
    expect(canGrantVote(voter(3, 'a'), request(3, 'b'))).toBe(false);
  });

  it('a retried RequestVote from the candidate already voted for in this term is granted again', () => {
    expect(canGrantVote(voter(3, 'a'), request(3, 'a'))).toBe(true);
  });

  it('a vote cast in an earlier term does not bind a higher term', () => {
    expect(canGrantVote(voter(3, 'a'), request(4, 'b'))).toBe(true);
  });

  it('a voter that has not voted in the current term may vote for any up-to-date candidate', () => {
    expect(canGrantVote(voter(3, null), request(3, 'b'))).toBe(true);
  });

  it('at most one candidate is granted a vote per term, across any sequence of requests (property)', () => {
    // The voter follows the machine: a higher term is adopted with votedFor cleared; a grant records votedFor.
    const requestArb = fc.record({
      term: fc.integer({ min: 1, max: 4 }),
      candidateId: fc.constantFrom('a', 'b', 'c'),
      lastLogIndex: fc.nat({ max: 3 }),
      lastLogTerm: fc.nat({ max: 4 }),
    });
    fc.assert(
      fc.property(fc.array(requestArb, { maxLength: 30 }), (requests) => {
        let state: VoterState = voter(0, null);
        const granted = new Map<Term, Set<NodeId>>();
        for (const r of requests) {
          if (r.term > state.currentTerm) state = { ...state, currentTerm: r.term, votedFor: null };
          if (canGrantVote(state, r)) {
            expect(r.term).toBe(state.currentTerm);
            state = { ...state, votedFor: r.candidateId };
            const set = granted.get(r.term) ?? new Set();
            set.add(r.candidateId);
            granted.set(r.term, set);
          }
        }
        for (const [, candidates] of granted) expect(candidates.size).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('counting votes', () => {
  it('a granted vote is counted once per voter, however often its reply is delivered', () => {
    let votes = recordVote(['self'], 'b', true);
    votes = recordVote(votes, 'b', true);
    votes = recordVote(votes, 'b', true);
    expect(votes).toEqual(['self', 'b']);
  });

  it('a denied vote is not counted', () => {
    expect(recordVote(['self'], 'b', false)).toEqual(['self']);
  });

  it('recordVote does not modify the votes it was given', () => {
    const before = ['self'] as const;
    recordVote(before, 'b', true);
    expect(before).toEqual(['self']);
  });

  it('the votes held are exactly the distinct voters that granted, in any order of replies (property)', () => {
    const replyArb = fc.record({ from: fc.constantFrom('a', 'b', 'c', 'd', 'e'), granted: fc.boolean() });
    fc.assert(
      fc.property(fc.array(replyArb, { maxLength: 30 }), (replies) => {
        let votes: readonly NodeId[] = [];
        for (const r of replies) votes = recordVote(votes, r.from, r.granted);
        expect(new Set(votes).size).toBe(votes.length);
        expect([...votes].sort()).toEqual([...new Set(replies.filter((r) => r.granted).map((r) => r.from))].sort());
      }),
    );
  });
});
