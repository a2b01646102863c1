import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMajority } from '../../src/core/quorum.js';
import { confirmedRound, partitionReadyReads, type PendingRead } from '../../src/core/read.js';

const read = (id: string, seq: number, index = 5): PendingRead => ({ requestIds: [id], index, seq });

describe('ReadIndex leadership confirmation (thesis §6.4)', () => {
  it('a read round is confirmed only when a majority, the leader included, has answered it', () => {
    const peers = ['b', 'c', 'd', 'e'];
    // Round 3: the leader and b answered it (2 of 5); c answered round 2 (3 of 5 have ≥ 2).
    expect(confirmedRound({ b: 3, c: 2, d: 0, e: 0 }, peers, 3)).toBe(2);
    expect(confirmedRound({ b: 3, c: 3, d: 0, e: 0 }, peers, 3)).toBe(3);
  });

  it('a peer that has never answered counts as round 0', () => {
    expect(confirmedRound({}, ['b', 'c'], 4)).toBe(0);
    expect(confirmedRound({ b: 4 }, ['b', 'c'], 4)).toBe(4);
  });

  it('a leader that is not a voter (removing itself) does not count itself: the round is a majority of the other voters', () => {
    // Voters b, c, d: two of three answered round 5.
    expect(confirmedRound({ b: 5, c: 5, d: 1 }, ['b', 'c', 'd'], undefined)).toBe(5);
    expect(confirmedRound({ b: 5, c: 1, d: 1 }, ['b', 'c', 'd'], undefined)).toBe(1);
  });

  it('a leader that is not a voter, with two other voters, waits for both of them', () => {
    expect(confirmedRound({ b: 5, c: 1 }, ['b', 'c'], undefined)).toBe(1);
    expect(confirmedRound({ b: 1, c: 5 }, ['b', 'c'], undefined)).toBe(1);
  });

  it('answers from nodes that are not voters do not count toward the quorum', () => {
    expect(confirmedRound({ stranger: 9, other: 9 }, ['b', 'c'], 9)).toBe(0);
  });

  it('a single-node cluster confirms its own round at once', () => {
    expect(confirmedRound({}, [], 7)).toBe(7);
  });

  it('the leader counts itself only for rounds it has started', () => {
    // Peers answering a higher round than the leader's (impossible, but cheap to guard) cannot confirm beyond it alone.
    expect(confirmedRound({ b: 9 }, ['b', 'c', 'd', 'e'], 2)).toBe(0);
  });

  it('the confirmed round is the highest round a majority of voters has answered (property vs brute force)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 8 }), { maxLength: 6 }), fc.nat({ max: 8 }), (acks, current) => {
        const peers = acks.map((_, i) => `p${i}`);
        const acked = Object.fromEntries(acks.map((seq, i) => [`p${i}`, seq]));
        const all = [current, ...acks];
        let best = 0;
        for (let round = 1; round <= 8; round++) {
          if (isMajority(all.filter((seq) => seq >= round).length, all.length)) best = round;
        }
        expect(confirmedRound(acked, peers, current)).toBe(best);
      }),
    );
  });
});

describe('serving pending reads', () => {
  it('a read admitted before the leader committed an entry of its term (seq 0) is never served', () => {
    const [ready, waiting] = partitionReadyReads([read('r', 0)], 100);
    expect(ready).toEqual([]);
    expect(waiting).toEqual([read('r', 0)]);
  });

  it("a read is served only once its own round is confirmed, never on an earlier round's answers", () => {
    const reads = [read('a', 1), read('b', 2), read('c', 3)];
    const [ready, waiting] = partitionReadyReads(reads, 2);
    expect(ready.map((r) => r.requestIds[0])).toEqual(['a', 'b']);
    expect(waiting.map((r) => r.requestIds[0])).toEqual(['c']);
  });

  it('partitioning keeps every read exactly once, in order, and serves exactly those with 0 < seq ≤ confirmed (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 6 }), { maxLength: 12 }), fc.nat({ max: 6 }), (seqs, confirmed) => {
        const reads = seqs.map((seq, i) => read(`r${i}`, seq));
        const [ready, waiting] = partitionReadyReads(reads, confirmed);
        expect(ready).toEqual(reads.filter((r) => r.seq > 0 && r.seq <= confirmed));
        expect(waiting).toEqual(reads.filter((r) => !(r.seq > 0 && r.seq <= confirmed)));
      }),
    );
  });
});
