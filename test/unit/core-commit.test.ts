import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { followerCommitIndex, leaderCommitIndex } from '../../src/core/commit.js';
import { RaftLog } from '../../src/core/log.js';
import { majoritySize } from '../../src/core/quorum.js';
import type { Term } from '../../src/core/types.js';

function logOf(terms: readonly Term[]): RaftLog<string> {
  return RaftLog.from(terms.map((term, i) => ({ term, index: i + 1, command: `c${i + 1}` })));
}

describe('leader commit rule (Figure 2, §5.4.2)', () => {
  it('commitIndex advances only to an index of the current term (Figure 8)', () => {
    // Figure 8 (c): S1 is leader in term 4 with log [1, 2, 4]. Index 2 (term 2) is on S1, S2, S3 —
    // a majority — but must not be committed by counting replicas: S5 (log [1, 3, 3]) could still be
    // elected and overwrite it.
    const log = logOf([1, 2, 4]);
    // match indexes of S1 (itself: last index), S2, S3, S4, S5
    expect(leaderCommitIndex(log, 4, 1, [3, 2, 2, 1, 1])).toBe(1);
  });

  it('an entry of an earlier term is committed indirectly, by a current-term entry above it (Figure 8 (e))', () => {
    const log = logOf([1, 2, 4]);
    expect(leaderCommitIndex(log, 4, 1, [3, 3, 3, 1, 1])).toBe(3);
  });

  it('commitIndex advances only to an index that a majority holds', () => {
    const log = logOf([1, 1, 1, 1]);
    expect(leaderCommitIndex(log, 1, 0, [4, 4, 1, 0, 0])).toBe(1); // 4 is on 2 of 5
    expect(leaderCommitIndex(log, 1, 0, [4, 4, 4, 0, 0])).toBe(4);
    expect(leaderCommitIndex(log, 1, 0, [4, 0])).toBe(0); // 2 voters need both
    expect(leaderCommitIndex(log, 1, 0, [4])).toBe(4); // a single-node cluster commits alone
  });

  it('commitIndex never decreases, even when the quorum index is below it', () => {
    const log = logOf([1, 1, 2, 2]);
    expect(leaderCommitIndex(log, 2, 3, [4, 1, 1])).toBe(3);
    // Also when the entry the quorum holds is of the current term (an older view of the followers).
    expect(leaderCommitIndex(logOf([2, 2, 2, 2]), 2, 3, [4, 1, 1])).toBe(3);
  });

  it('the leader commits the highest index a majority holds whose term is current, or keeps commitIndex (property vs brute force)', () => {
    const arb = fc
      .record({
        steps: fc.array(fc.nat({ max: 1 }), { minLength: 1, maxLength: 12 }),
        extraTerm: fc.nat({ max: 2 }),
        peers: fc.array(fc.nat(), { minLength: 0, maxLength: 6 }),
        commit: fc.nat(),
      })
      .map(({ steps, extraTerm, peers, commit }) => {
        let t = 1;
        const terms = steps.map((s) => (t += s));
        const currentTerm = (terms.at(-1) ?? 1) + extraTerm;
        const last = terms.length;
        return {
          terms,
          currentTerm,
          matches: [last, ...peers.map((p) => p % (last + 1))],
          commitIndex: commit % (last + 1),
        };
      });
    fc.assert(
      fc.property(arb, ({ terms, currentTerm, matches, commitIndex }) => {
        const log = logOf(terms);
        let expected = commitIndex;
        for (let n = terms.length; n > commitIndex; n--) {
          const holders = matches.filter((m) => m >= n).length;
          if (holders >= majoritySize(matches.length) && terms[n - 1] === currentTerm) {
            expected = n;
            break;
          }
        }
        const got = leaderCommitIndex(log, currentTerm, commitIndex, matches);
        expect(got).toBe(expected);
        expect(got).toBeGreaterThanOrEqual(commitIndex);
      }),
    );
  });
});

describe('follower commit rule (AppendEntries receiver rule 5)', () => {
  it('a follower commits up to leaderCommit when it holds that far', () => {
    expect(followerCommitIndex(0, 5, 8)).toBe(5);
  });

  it('a follower commits only what this request proved it shares with the leader: min(leaderCommit, last new entry)', () => {
    // The follower may hold stale entries past lastNewIndex that the leader will overwrite.
    expect(followerCommitIndex(0, 10, 4)).toBe(4);
  });

  it("a follower's commitIndex never decreases (a reordered, older AppendEntries)", () => {
    expect(followerCommitIndex(7, 3, 3)).toBe(7);
    expect(followerCommitIndex(7, 10, 5)).toBe(7);
  });

  it('commitIndex = max(commitIndex, min(leaderCommit, lastNewIndex)) for any input (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), (commit, leaderCommit, lastNew) => {
        const got = followerCommitIndex(commit, leaderCommit, lastNew);
        expect(got).toBeGreaterThanOrEqual(commit);
        if (got > commit) {
          expect(got).toBeLessThanOrEqual(leaderCommit);
          expect(got).toBeLessThanOrEqual(lastNew);
          expect(got === leaderCommit || got === lastNew).toBe(true);
        } else {
          expect(Math.min(leaderCommit, lastNew)).toBeLessThanOrEqual(commit);
        }
      }),
    );
  });
});
