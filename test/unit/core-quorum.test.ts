import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMajority, majoritySize, quorumIndex } from '../../src/core/quorum.js';

describe('majority arithmetic', () => {
  it("a decision needs more than half of all voters (the seed's rule: acceptances > allNodes / 2)", () => {
    expect(isMajority(1, 1)).toBe(true);
    expect(isMajority(1, 2)).toBe(false);
    expect(isMajority(2, 2)).toBe(true);
    expect(isMajority(1, 3)).toBe(false);
    expect(isMajority(2, 3)).toBe(true);
    expect(isMajority(2, 4)).toBe(false); // a tie is not a majority
    expect(isMajority(3, 4)).toBe(true);
    expect(isMajority(2, 5)).toBe(false);
    expect(isMajority(3, 5)).toBe(true);
  });

  it('majoritySize is the smallest number of voters that is a majority', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(majoritySize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), (n) => {
        expect(isMajority(majoritySize(n), n)).toBe(true);
        expect(isMajority(majoritySize(n) - 1, n)).toBe(false);
      }),
    );
  });

  it('any two majorities of the same voters overlap, so two leaders cannot both win one term (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat(), fc.nat(), (n, a, b) => {
        const x = a % (n + 1);
        const y = b % (n + 1);
        if (isMajority(x, n) && isMajority(y, n)) expect(x + y).toBeGreaterThan(n);
      }),
    );
  });
});

describe('quorumIndex', () => {
  it('is the highest index that a majority of voters has reached', () => {
    expect(quorumIndex([5])).toBe(5);
    expect(quorumIndex([5, 3, 1])).toBe(3);
    expect(quorumIndex([1, 5, 3])).toBe(3);
    expect(quorumIndex([5, 5, 1, 1])).toBe(1); // 4 voters need 3
    expect(quorumIndex([7, 5, 5, 1, 1])).toBe(5);
    expect(quorumIndex([9, 2])).toBe(2);
    expect(quorumIndex([])).toBe(0);
  });

  it('sorts numerically, not as strings', () => {
    expect(quorumIndex([10, 9, 100])).toBe(10);
  });

  it("does not reorder the caller's array", () => {
    const matches = [1, 5, 3];
    quorumIndex(matches);
    expect(matches).toEqual([1, 5, 3]);
  });

  it('quorumIndex equals the brute-force highest index held by a majority (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }), (matches) => {
        let best = 0;
        for (const candidate of matches) {
          const holders = matches.filter((m) => m >= candidate).length;
          if (isMajority(holders, matches.length)) best = Math.max(best, candidate);
        }
        expect(quorumIndex(matches)).toBe(best);
      }),
    );
  });

  it("raising any voter's match index never lowers the quorum index (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }), fc.nat(), fc.nat({ max: 10 }), (matches, who, by) => {
        const raised = [...matches];
        const i = who % matches.length;
        raised[i] = raised[i]! + by;
        expect(quorumIndex(raised)).toBeGreaterThanOrEqual(quorumIndex(matches));
      }),
    );
  });
});
