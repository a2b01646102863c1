import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conflictHint, entriesThatFit, entrySize, isLogUpToDate, mergeEntries, nextIndexAfterConflict, RaftLog } from '../../src/core/log.js';
import type { LogEntry, Term } from '../../src/core/types.js';

/** Entries numbered from `first`, with the given terms; the command names the position and term. */
function entries(terms: readonly Term[], first = 1, tag = ''): LogEntry<string>[] {
  return terms.map((term, i) => ({ term, index: first + i, command: `${tag}${first + i}@${term}` }));
}

function logOf(terms: readonly Term[], tag = ''): RaftLog<string> {
  return RaftLog.from(entries(terms, 1, tag));
}

function termsOf(log: RaftLog<unknown>): Term[] {
  return log.toArray().map((e) => e.term);
}

/** Logs whose terms never decrease along the log (as in any Raft log), starting at term ≥ 1. */
const termsArb = (maxLength = 24) =>
  fc.array(fc.nat({ max: 2 }), { maxLength }).map((steps) => {
    let term = 1;
    return steps.map((step) => (term += step));
  });

describe('RaftLog: the sentinel and lookups', () => {
  it('the empty log has index 0 / term 0 as its sentinel, which always matches', () => {
    const log = RaftLog.empty();
    expect(log.lastIndex).toBe(0);
    expect(log.lastTerm).toBe(0);
    expect(log.termAt(0)).toBe(0);
    expect(log.matches(0, 0)).toBe(true);
    expect(log.matches(0, 1)).toBe(false);
    expect(log.termAt(1)).toBeUndefined();
    expect(log.entry(0)).toBeUndefined();
  });

  it('the log is 1-based: entry(i) is the i-th entry and nothing exists outside 1..lastIndex', () => {
    const log = logOf([1, 1, 2]);
    expect(log.entry(1)?.command).toBe('1@1');
    expect(log.entry(3)?.command).toBe('3@2');
    expect(log.entry(4)).toBeUndefined();
    expect(log.entry(-1)).toBeUndefined();
    expect(log.termAt(4)).toBeUndefined();
    expect(log.lastIndex).toBe(3);
    expect(log.lastTerm).toBe(2);
  });

  it('matches(index, term) holds exactly when the log has an entry at index with that term (Log Matching check)', () => {
    const log = logOf([1, 1, 2]);
    expect(log.matches(2, 1)).toBe(true);
    expect(log.matches(2, 2)).toBe(false);
    expect(log.matches(3, 2)).toBe(true);
    expect(log.matches(4, 2)).toBe(false); // past the end never matches
  });

  it('RaftLog.from accepts only entries numbered 1, 2, 3, …', () => {
    expect(() => RaftLog.from(entries([1, 1], 2))).toThrow(RangeError);
    expect(() =>
      RaftLog.from([
        { term: 1, index: 1, command: 'a' },
        { term: 1, index: 3, command: 'b' },
      ]),
    ).toThrow(RangeError);
    expect(RaftLog.from(entries([1, 2])).lastIndex).toBe(2);
  });

  it('append accepts only entries that continue the log: no gap, no overlap', () => {
    const log = logOf([1, 1]);
    expect(() => log.append(entries([1], 4))).toThrow(RangeError); // gap
    expect(() => log.append(entries([1], 2))).toThrow(RangeError); // overlap
    expect(log.append(entries([2], 3)).lastIndex).toBe(3);
  });

  it("RaftLog.from copies its input: changing the caller's array later does not change the log", () => {
    const source = entries([1, 2]);
    const log = RaftLog.from(source);
    source.pop();
    source.push({ term: 9, index: 2, command: 'x' });
    expect(termsOf(log)).toEqual([1, 2]);
  });

  it('slice(from, to) is inclusive and clamped to the log, and returns a copy', () => {
    const log = logOf([1, 1, 2, 3]);
    expect(log.slice(2, 3).map((e) => e.index)).toEqual([2, 3]);
    expect(log.slice(0, 99).map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(log.slice(3).map((e) => e.index)).toEqual([3, 4]);
    expect(log.slice(5)).toEqual([]);
    expect(log.slice(3, 2)).toEqual([]);
    const copy = log.slice(1);
    copy.length = 0;
    expect(log.lastIndex).toBe(4);
    expect(log.toArray()).toHaveLength(4);
  });

  it('truncateFrom refuses index 0: the sentinel cannot be removed', () => {
    expect(() => logOf([1]).truncateFrom(0)).toThrow(RangeError);
  });

  it('truncateFrom past the end changes nothing', () => {
    const log = logOf([1, 2]);
    expect(log.truncateFrom(3)).toBe(log);
    expect(log.truncateFrom(1).lastIndex).toBe(0);
  });
});

describe('RaftLog views (shared array, copy on divergence)', () => {
  it('RaftLog views stay valid after later appends and truncations', () => {
    const base = logOf([1, 1, 2]);
    const longer = base.append(entries([2, 2], 4)); // grows the shared array in place
    const truncated = longer.truncateFrom(3); // shares the array, shorter
    const diverged = truncated.append(entries([3, 3, 3], 3, 'new')); // must not touch longer's index 3..5
    const base2 = base.append(entries([4], 4, 'other')); // base is no longer the newest view: copies

    expect(termsOf(base)).toEqual([1, 1, 2]);
    expect(termsOf(longer)).toEqual([1, 1, 2, 2, 2]);
    expect(longer.entry(3)?.command).toBe('3@2');
    expect(termsOf(truncated)).toEqual([1, 1]);
    expect(termsOf(diverged)).toEqual([1, 1, 3, 3, 3]);
    expect(diverged.entry(3)?.command).toBe('new3@3');
    expect(termsOf(base2)).toEqual([1, 1, 2, 4]);
    expect(longer.lastTerm).toBe(2);
    expect(base.lastTerm).toBe(2);
  });

  it('RaftLog views stay valid after any sequence of appends and truncations on any view (property)', () => {
    // A model: every view ever made, with the entries it must keep showing forever.
    type Op = { kind: 'append'; view: number; count: number; termStep: number } | { kind: 'truncate'; view: number; at: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), view: fc.nat(), count: fc.integer({ min: 0, max: 4 }), termStep: fc.nat({ max: 1 }) }),
      fc.record({ kind: fc.constant('truncate' as const), view: fc.nat(), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const views: { log: RaftLog<string>; expected: LogEntry<string>[] }[] = [{ log: RaftLog.empty(), expected: [] }];
        let serial = 0;
        for (const op of ops) {
          const picked = views[op.view % views.length]!;
          if (op.kind === 'append') {
            const term = picked.log.lastTerm + op.termStep || 1;
            const added = Array.from({ length: op.count }, (_, i) => ({
              term,
              index: picked.log.lastIndex + 1 + i,
              command: `e${serial++}`,
            }));
            views.push({ log: picked.log.append(added), expected: [...picked.expected, ...added] });
          } else {
            const at = 1 + (op.at % (picked.log.lastIndex + 1));
            views.push({ log: picked.log.truncateFrom(at), expected: picked.expected.slice(0, at - 1) });
          }
          for (const { log, expected } of views) {
            expect(log.toArray()).toEqual(expected);
            expect(log.lastIndex).toBe(expected.length);
            expect(log.lastTerm).toBe(expected.at(-1)?.term ?? 0);
            expect(log.entry(expected.length + 1)).toBeUndefined();
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('term lookups used by the conflict hint', () => {
  it('firstIndexOfTerm finds the start of the run of a term that ends at `from`', () => {
    const log = logOf([1, 1, 3, 3, 3, 5]);
    expect(log.firstIndexOfTerm(3, 5)).toBe(3);
    expect(log.firstIndexOfTerm(3, 3)).toBe(3);
    expect(log.firstIndexOfTerm(1, 2)).toBe(1);
    expect(log.firstIndexOfTerm(5, 6)).toBe(6);
  });

  it('lastIndexOfTerm finds the last entry of a term, or 0 when the log has none of it', () => {
    const log = logOf([1, 1, 3, 3, 3, 5]);
    expect(log.lastIndexOfTerm(1)).toBe(2);
    expect(log.lastIndexOfTerm(3)).toBe(5);
    expect(log.lastIndexOfTerm(5)).toBe(6);
    expect(log.lastIndexOfTerm(2)).toBe(0);
    expect(log.lastIndexOfTerm(4)).toBe(0);
    expect(log.lastIndexOfTerm(9)).toBe(0);
    expect(RaftLog.empty().lastIndexOfTerm(1)).toBe(0);
  });

  it('first/lastIndexOfTerm agree with a brute-force scan on any log with non-decreasing terms (property)', () => {
    fc.assert(
      fc.property(termsArb(), fc.nat(), fc.integer({ min: 0, max: 30 }), (terms, pick, term) => {
        const log = logOf(terms);
        const lastIndex = terms.lastIndexOf(term) + 1; // 0 when absent
        expect(log.lastIndexOfTerm(term)).toBe(lastIndex);
        if (terms.length === 0) return;
        const from = 1 + (pick % terms.length);
        const t = terms[from - 1]!;
        let first = from;
        while (first > 1 && terms[first - 2] === t) first--;
        expect(log.firstIndexOfTerm(t, from)).toBe(first);
      }),
    );
  });
});

describe('isLogUpToDate (§5.4.1 election restriction)', () => {
  it('a higher last term is more up to date even when the log is shorter', () => {
    expect(isLogUpToDate(1, 3, logOf([1, 1, 2, 2, 2]))).toBe(true);
  });

  it('a lower last term is less up to date even when the log is longer', () => {
    expect(isLogUpToDate(9, 1, logOf([1, 2]))).toBe(false);
  });

  it('with equal last terms, the longer log wins and equal length is up to date', () => {
    const log = logOf([1, 2, 2]);
    expect(isLogUpToDate(4, 2, log)).toBe(true);
    expect(isLogUpToDate(3, 2, log)).toBe(true);
    expect(isLogUpToDate(2, 2, log)).toBe(false);
  });

  it('any log is at least as up to date as the empty log, and the empty log only as the empty log', () => {
    expect(isLogUpToDate(0, 0, RaftLog.empty())).toBe(true);
    expect(isLogUpToDate(0, 0, logOf([1]))).toBe(false);
  });

  it('compares last term first, then length, on any pair of logs (property)', () => {
    fc.assert(
      fc.property(termsArb(), termsArb(), (candidate, voter) => {
        const cTerm = candidate.at(-1) ?? 0;
        const vTerm = voter.at(-1) ?? 0;
        const expected = cTerm > vTerm || (cTerm === vTerm && candidate.length >= voter.length);
        expect(isLogUpToDate(candidate.length, cTerm, logOf(voter))).toBe(expected);
      }),
    );
  });
});

describe('mergeEntries (AppendEntries receiver rules 3 and 4)', () => {
  it('a duplicate AppendEntries never shortens the log', () => {
    const log = logOf([1, 1, 2, 2, 3]);
    const dup = mergeEntries(log, log.slice(2, 3)); // a stale retransmission of entries 2..3
    expect(dup.truncatedFrom).toBeUndefined();
    expect(dup.appended).toEqual([]);
    expect(dup.log.lastIndex).toBe(5);
    expect(dup.log.toArray()).toEqual(log.toArray());
  });

  it('mergeEntries never truncates when all entries match (property)', () => {
    fc.assert(
      fc.property(termsArb(), fc.nat(), fc.nat(), (terms, a, b) => {
        const log = logOf(terms);
        const from = 1 + (a % (terms.length + 1));
        const to = from - 1 + (b % (terms.length - from + 2)); // possibly empty
        const merged = mergeEntries(log, log.slice(from, to));
        expect(merged.truncatedFrom).toBeUndefined();
        expect(merged.appended).toEqual([]);
        expect(merged.log.toArray()).toEqual(log.toArray());
      }),
    );
  });

  it('entries past the end of the log are appended, the ones already held are skipped', () => {
    const log = logOf([1, 1, 2]);
    const incoming = [...log.slice(2, 3), ...entries([2, 3], 4, 'L')];
    const merged = mergeEntries(log, incoming);
    expect(merged.truncatedFrom).toBeUndefined();
    expect(merged.appended.map((e) => e.index)).toEqual([4, 5]);
    expect(termsOf(merged.log)).toEqual([1, 1, 2, 2, 3]);
    expect(merged.log.entry(2)?.command).toBe('2@1'); // a held entry is not rewritten
  });

  it("a conflicting entry (same index, different term) truncates the log from there, and the leader's entries replace it", () => {
    const follower = logOf([1, 1, 2, 2, 2]);
    const incoming = [...entries([1], 2), ...entries([3, 3], 3, 'L')]; // index 2 matches, 3 conflicts
    const merged = mergeEntries(follower, incoming);
    expect(merged.truncatedFrom).toBe(3);
    expect(merged.appended.map((e) => e.index)).toEqual([3, 4]);
    expect(termsOf(merged.log)).toEqual([1, 1, 3, 3]); // the follower's entry 5 is gone too
    expect(termsOf(follower)).toEqual([1, 1, 2, 2, 2]); // the old view is unchanged
  });

  it('entries are truncated only on a real conflict, at the first entry whose term differs (property vs a model)', () => {
    // The leader's log and the follower's share a prefix, then diverge with terms the other never used
    // (leader: even, follower: odd), as Log Matching allows. The leader sends entries prevLogIndex+1..to
    // for some prevLogIndex inside the shared prefix.
    fc.assert(
      fc.property(
        termsArb(10),
        fc.array(fc.nat({ max: 1 }), { maxLength: 8 }),
        fc.array(fc.nat({ max: 1 }), { maxLength: 8 }),
        fc.nat(),
        fc.nat(),
        (prefix, lSteps, fSteps, a, b) => {
          const base = 2 * ((prefix.at(-1) ?? 0) + 1);
          const leaderTerms = [...prefix, ...suffixTerms(base, lSteps)];
          const leader = logOf(leaderTerms, 'L');
          const follower = RaftLog.from([...leader.slice(1, prefix.length), ...entries(suffixTerms(base + 1, fSteps), prefix.length + 1, 'F')]);
          const prev = a % (prefix.length + 1);
          const to = prev + (b % (leaderTerms.length - prev + 1));
          const sent = leader.slice(prev + 1, to);

          const merged = mergeEntries(follower, sent);

          // Model: the first index where a sent entry's term differs from the follower's.
          const conflict = sent.find((e) => follower.termAt(e.index) !== undefined && follower.termAt(e.index) !== e.term);
          expect(merged.truncatedFrom).toBe(conflict?.index);
          // After the merge the follower holds the leader's entries up to `to` (Log Matching).
          expect(merged.log.slice(1, to)).toEqual(leader.slice(1, to));
          if (conflict === undefined) {
            // No conflict: nothing the follower had is lost.
            expect(merged.log.lastIndex).toBe(Math.max(follower.lastIndex, to));
            expect(merged.log.slice(to + 1)).toEqual(follower.slice(to + 1));
          } else {
            expect(merged.log.lastIndex).toBe(to);
          }
          // What was written: everything from the conflict on, or only what lies past the follower's end.
          const written = sent.filter((e) => (conflict === undefined ? e.index > follower.lastIndex : e.index >= conflict.index));
          expect(merged.appended).toEqual(written);
        },
      ),
    );
  });
});

/** Non-decreasing terms of one parity from `start` (start, start, start+2, …). */
function suffixTerms(start: Term, steps: readonly number[]): Term[] {
  let term = start;
  return steps.map((step) => (term += 2 * step));
}

describe('conflict hint (§5.3 optimization)', () => {
  it('a follower missing prevLogIndex answers conflictTerm 0 and its lastIndex + 1', () => {
    expect(conflictHint(logOf([1, 1, 2]), 7)).toEqual({ conflictTerm: 0, conflictIndex: 4 });
    expect(conflictHint(RaftLog.empty(), 1)).toEqual({ conflictTerm: 0, conflictIndex: 1 });
  });

  it('a follower with a different term at prevLogIndex answers that term and the first index it holds of it', () => {
    expect(conflictHint(logOf([1, 1, 2, 2, 2, 3]), 5)).toEqual({ conflictTerm: 2, conflictIndex: 3 });
    expect(conflictHint(logOf([1, 1, 2, 2, 2, 3]), 6)).toEqual({ conflictTerm: 3, conflictIndex: 6 });
  });

  it('the leader resumes after its last entry of the conflicting term when it has that term', () => {
    const leader = logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    expect(nextIndexAfterConflict(leader, { conflictTerm: 4, conflictIndex: 4 })).toBe(6);
  });

  it("the leader jumps to the follower's first index of the term when it has no entry of that term", () => {
    const leader = logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    expect(nextIndexAfterConflict(leader, { conflictTerm: 3, conflictIndex: 7 })).toBe(7);
    expect(nextIndexAfterConflict(leader, { conflictTerm: 0, conflictIndex: 5 })).toBe(5);
  });

  it('nextIndex after a conflict is never below 1', () => {
    expect(nextIndexAfterConflict(logOf([1]), { conflictTerm: 0, conflictIndex: 0 })).toBe(1);
  });

  it('Figure 7: backing off by conflict hints reaches the last index where leader and follower agree', () => {
    const leader = logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
    const followers: Record<string, { terms: Term[]; agreeUpTo: number; rounds: number }> = {
      a: { terms: [1, 1, 1, 4, 4, 5, 5, 6, 6], agreeUpTo: 9, rounds: 1 },
      b: { terms: [1, 1, 1, 4], agreeUpTo: 4, rounds: 1 },
      c: { terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], agreeUpTo: 10, rounds: 0 },
      d: { terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], agreeUpTo: 10, rounds: 0 },
      e: { terms: [1, 1, 1, 4, 4, 4, 4], agreeUpTo: 5, rounds: 2 },
      f: { terms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], agreeUpTo: 3, rounds: 2 },
    };
    for (const [name, f] of Object.entries(followers)) {
      const follower = logOf(f.terms);
      let prev = leader.lastIndex;
      let rounds = 0;
      while (!follower.matches(prev, leader.termAt(prev)!)) {
        const next = Math.min(nextIndexAfterConflict(leader, conflictHint(follower, prev)), prev);
        expect(next, `follower ${name} must make progress`).toBeLessThanOrEqual(prev);
        prev = next - 1;
        rounds++;
      }
      expect({ name, prev, rounds }).toEqual({ name, prev: f.agreeUpTo, rounds: f.rounds });
    }
  });
});

describe('RaftLog after a snapshot (§7: compaction)', () => {
  it('compact(i) drops the entries up to i, keeps the rest, and knows the term at i', () => {
    const log = logOf([1, 1, 2, 2, 3]).compact(3);
    expect([log.snapshotIndex, log.snapshotTerm, log.firstIndex, log.lastIndex, log.lastTerm]).toEqual([3, 2, 4, 5, 3]);
    expect(log.termAt(3)).toBe(2);
    expect(log.termAt(2)).toBeUndefined();
    expect(log.entry(3)).toBeUndefined();
    expect(log.entry(4)?.command).toBe('4@2');
    expect(log.matches(3, 2)).toBe(true);
    expect(termsOf(log)).toEqual([2, 3]);
  });

  it('entries the snapshot covers cannot be sliced or truncated', () => {
    const log = logOf([1, 1, 2, 2, 3]).compact(3);
    expect(() => log.slice(2, 4)).toThrow(/compacted up to 3/);
    expect(log.slice(4).map((e) => e.index)).toEqual([4, 5]);
    expect(() => log.truncateFrom(3)).toThrow(RangeError);
    expect(log.truncateFrom(5).lastIndex).toBe(4);
  });

  it("compaction up to the end leaves an empty log whose last term is the snapshot's, and appends continue it", () => {
    const log = logOf([1, 2]).compact(2);
    expect([log.length, log.lastIndex, log.lastTerm]).toEqual([0, 2, 2]);
    const grown = log.append(entries([3], 3));
    expect(grown.lastIndex).toBe(3);
    expect(() => log.append(entries([3], 5))).toThrow(RangeError);
  });

  it("installSnapshot keeps the suffix when the log holds the snapshot's last entry (rule 6), else discards the log (rule 7)", () => {
    const log = logOf([1, 1, 2, 2]);
    const kept = log.installSnapshot(2, 1);
    expect([kept.discardedAfter, kept.log.snapshotIndex, kept.log.lastIndex]).toEqual([false, 2, 4]);
    const conflicting = log.installSnapshot(3, 5);
    expect([conflicting.discardedAfter, conflicting.log.snapshotIndex, conflicting.log.snapshotTerm, conflicting.log.lastIndex]).toEqual([true, 3, 5, 3]);
    const beyond = log.installSnapshot(9, 4);
    expect([beyond.discardedAfter, beyond.log.lastIndex, beyond.log.lastTerm]).toEqual([false, 9, 4]);
    expect(() => kept.log.installSnapshot(2, 1)).toThrow(/not newer/);
  });

  it('term lookups for the conflict hint stop at the snapshot', () => {
    const log = logOf([1, 2, 2, 2, 3]).compact(2);
    expect(log.firstIndexOfTerm(2, 4)).toBe(3);
    expect(log.lastIndexOfTerm(2)).toBe(4);
    expect(logOf([1, 2, 3]).compact(2).lastIndexOfTerm(2)).toBe(2);
    expect(log.lastIndexOfTerm(1)).toBe(0);
    expect(conflictHint(log, 9)).toEqual({ conflictTerm: 0, conflictIndex: 6 });
  });

  it('RaftLog.from with a snapshot takes the entries after it', () => {
    const log = RaftLog.from(entries([2, 3], 11), { index: 10, term: 2 });
    expect([log.firstIndex, log.lastIndex, log.termAt(10)]).toEqual([11, 12, 2]);
    expect(() => RaftLog.from(entries([2], 3), { index: 10, term: 2 })).toThrow(RangeError);
  });

  it('views made before a compaction stay valid', () => {
    const full = logOf([1, 1, 2]);
    const compacted = full.compact(2);
    compacted.append(entries([2], 4));
    expect(termsOf(full)).toEqual([1, 1, 2]);
    expect(full.entry(1)?.command).toBe('1@1');
  });
});

describe('RaftLog: errors name the index that was wrong', () => {
  it('an entry out of sequence is reported with its index and the one expected', () => {
    expect(() => RaftLog.from(entries([1, 1], 2))).toThrow('log entry has index 2, expected 1');
    expect(() => logOf([1, 1]).append([...entries([1], 3), ...entries([1], 5)])).toThrow('log entry has index 5, expected 4');
  });

  it('truncating compacted entries is refused with the first index the log holds', () => {
    expect(() => logOf([1, 1, 2, 2]).compact(2).truncateFrom(2)).toThrow(new RangeError('cannot truncate from index 2: the first entry the log holds is 3'));
    expect(() => logOf([1]).truncateFrom(0)).toThrow('cannot truncate from index 0: the first entry the log holds is 1');
  });

  it('compaction is refused behind the snapshot and past the end, with the range the log holds', () => {
    const log = logOf([1, 1, 2, 2, 3]).compact(2);
    expect(() => log.compact(1)).toThrow(new RangeError('cannot compact up to 1: the log holds 3..5'));
    expect(() => log.compact(6)).toThrow(new RangeError('cannot compact up to 6: the log holds 3..5'));
    expect(log.compact(5).lastIndex).toBe(5);
  });
});

describe('RaftLog views and compaction: edges', () => {
  it('an older or truncated view shows nothing past its own end, though the shared array holds more', () => {
    const base = logOf([1, 1, 2]);
    const longer = base.append(entries([2, 2], 4));
    expect(base.entry(4)).toBeUndefined();
    expect(base.termAt(4)).toBeUndefined();
    const truncated = longer.truncateFrom(3);
    expect(truncated.entry(3)).toBeUndefined();
    expect(truncated.slice(1, 5).map((e) => e.index)).toEqual([1, 2]);
    expect(longer.entry(5)?.command).toBe('5@2');
  });

  it('the first entry after a snapshot is entry(firstIndex); the snapshot index itself has no entry, only its term', () => {
    const log = logOf([1, 1, 2, 2, 3]).compact(2);
    expect(log.entry(3)?.command).toBe('3@2');
    expect(log.entry(2)).toBeUndefined();
    expect(log.termAt(2)).toBe(1);
  });

  it('appending nothing returns the same view', () => {
    const log = logOf([1, 2]);
    expect(log.append([])).toBe(log);
  });

  it('compacting up to the snapshot index changes nothing; a second compaction keeps the entries after the new index', () => {
    const once = logOf([1, 1, 2, 2, 3, 3]).compact(2);
    expect(once.compact(2)).toBe(once);
    const twice = once.compact(4);
    expect([twice.snapshotIndex, twice.snapshotTerm, twice.firstIndex, twice.lastIndex]).toEqual([4, 2, 5, 6]);
    expect(twice.toArray()).toEqual(entries([3, 3], 5));
  });

  it('slice after a snapshot returns exactly the entries asked for', () => {
    const log = logOf([1, 1, 2, 2, 3, 3, 3, 3]).compact(2);
    expect(log.slice(4, 5)).toEqual(entries([2, 3], 4));
    expect(log.slice(3, 3)).toEqual(entries([2], 3));
  });

  it('slice of an empty range is empty even when it starts behind the snapshot; a range that reaches a compacted entry is refused', () => {
    const log = logOf([1, 1, 2, 2, 3, 3, 3, 3]).compact(2);
    expect(log.slice(2, 1)).toEqual([]);
    expect(log.slice(3, 2)).toEqual([]);
    expect(() => log.slice(2, 2)).toThrow('entries 2..2 are asked for, but the log is compacted up to 2');
    expect(() => log.slice(2, 3)).toThrow(RangeError);
  });

  it('installSnapshot at the last index with another term discards that entry, but nothing after the snapshot', () => {
    const installed = logOf([1, 1, 2, 2]).installSnapshot(4, 5);
    expect([installed.discardedAfter, installed.log.lastIndex, installed.log.lastTerm, installed.log.length]).toEqual([false, 4, 5, 0]);
    expect(installed.log.append(entries([5], 5)).lastIndex).toBe(5);
  });
});

describe('isLogUpToDate: the boundaries', () => {
  it('with equal last terms a shorter log is not up to date; a higher last term wins at any length', () => {
    const log = logOf([1, 2, 2]);
    expect(isLogUpToDate(2, 2, log)).toBe(false);
    expect(isLogUpToDate(3, 2, log)).toBe(true);
    expect(isLogUpToDate(1, 3, log)).toBe(true);
    expect(isLogUpToDate(9, 1, log)).toBe(false);
  });
});

describe('message size: entriesThatFit and entrySize (every message fits the transport body limit)', () => {
  const big = (index: number, size: number): LogEntry<string> => ({ term: 1, index, command: 'x'.repeat(size - 50) });

  it('an entry measures 48 bytes of envelope plus the JSON of its command', () => {
    expect(entrySize({ term: 1, index: 1, command: 'abc' })).toBe(48 + 5);
    expect(entrySize({ term: 1, index: 1, command: { k: 1 } })).toBe(48 + 7);
  });

  it('a command with no JSON (undefined, a BigInt) measures only the envelope', () => {
    expect(entrySize({ term: 1, index: 1, command: undefined })).toBe(48);
    expect(entrySize({ term: 1, index: 1, command: 10n })).toBe(48);
  });

  it('each entry is measured once', () => {
    let calls = 0;
    const entry = { term: 1, index: 1, command: { toJSON: () => `call${++calls}` } };
    expect(entrySize(entry)).toBe(48 + 7);
    expect(entrySize(entry)).toBe(48 + 7);
    expect(calls).toBe(1);
  });

  it('as many entries as fit in maxBytes, a total of exactly maxBytes included', () => {
    const log = RaftLog.from([big(1, 100), big(2, 100), big(3, 100), big(4, 100)]);
    expect(entriesThatFit(log, 1, 10, 300)).toBe(3);
    expect(entriesThatFit(log, 1, 10, 299)).toBe(2);
    expect(entriesThatFit(log, 2, 10, 10_000)).toBe(3);
    expect(entriesThatFit(log, 1, 2, 10_000)).toBe(2);
  });

  it('a single entry larger than maxBytes still goes alone, so replication makes progress', () => {
    const log = RaftLog.from([big(1, 500), big(2, 100)]);
    expect(entriesThatFit(log, 1, 10, 300)).toBe(1);
    expect(entriesThatFit(log, 2, 10, 50)).toBe(1);
  });
});
