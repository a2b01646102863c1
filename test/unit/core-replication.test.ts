import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conflictHint, mergeEntries, RaftLog } from '../../src/core/log.js';
import {
  initialProgress,
  nextAppend,
  nextSnapshotChunk,
  progressAfterRejection,
  progressAfterSnapshotReply,
  progressAfterSuccess,
  SNAPSHOT_RESEND_HEARTBEATS,
  type Progress,
  type SnapshotSend,
} from '../../src/core/replication.js';
import type { LogEntry, Term } from '../../src/core/types.js';

function entries(terms: readonly Term[], first = 1, tag = ''): LogEntry<string>[] {
  return terms.map((term, i) => ({ term, index: first + i, command: `${tag}${first + i}@${term}` }));
}

function logOf(terms: readonly Term[], tag = ''): RaftLog<string> {
  return RaftLog.from(entries(terms, 1, tag));
}

const probe = (nextIndex: number, matchIndex = 0, probeSent = false): Progress => ({ nextIndex, matchIndex, mode: 'probe', probeSent });
const replicating = (nextIndex: number, matchIndex: number): Progress => ({ nextIndex, matchIndex, mode: 'replicate', probeSent: false });

/**
 * One leader and one follower exchanging AppendEntries by the core rules until the follower holds the
 * leader's whole log. Returns the follower's log and the number of rejections it took.
 */
function replicateToFollower(leader: RaftLog<string>, start: RaftLog<string>, maxEntries = 3) {
  let follower = start;
  let p = initialProgress(leader.lastIndex);
  let rejections = 0;
  for (let round = 0; round < 1000; round++) {
    if (p.matchIndex === leader.lastIndex) return { follower, rejections, progress: p };
    const plan = nextAppend(p, leader.lastIndex, maxEntries, false);
    if (plan === undefined) throw new Error(`nothing to send but the follower is behind: ${JSON.stringify(p)}`);
    p = plan.progress;
    const prevLogIndex = plan.from - 1;
    const prevLogTerm = leader.termAt(prevLogIndex)!;
    const sent = leader.slice(plan.from, plan.to);
    if (follower.matches(prevLogIndex, prevLogTerm)) {
      follower = mergeEntries(follower, sent).log;
      const before = p;
      p = progressAfterSuccess(p, prevLogIndex + sent.length);
      expect(p.matchIndex).toBeGreaterThanOrEqual(before.matchIndex);
    } else {
      rejections++;
      const before = p;
      p = progressAfterRejection(p, prevLogIndex, conflictHint(follower, prevLogIndex), leader);
      expect(p.nextIndex).toBeLessThanOrEqual(prevLogIndex);
      expect(p.nextIndex).toBeGreaterThan(before.matchIndex);
    }
  }
  throw new Error('replication did not converge in 1000 rounds');
}

describe('Progress: what the leader knows about a follower', () => {
  it('a new leader starts every follower at nextIndex = lastIndex + 1, matchIndex = 0, probing (Figure 2)', () => {
    expect(initialProgress(7)).toEqual({ nextIndex: 8, matchIndex: 0, mode: 'probe', probeSent: false });
  });

  it('a successful AppendEntries sets matchIndex, moves nextIndex past it, and starts pipelining', () => {
    expect(progressAfterSuccess(probe(8, 0, true), 7)).toEqual({ nextIndex: 8, matchIndex: 7, mode: 'replicate', probeSent: false });
    expect(progressAfterSuccess(probe(3, 0, true), 7)).toEqual({ nextIndex: 8, matchIndex: 7, mode: 'replicate', probeSent: false });
  });

  it('matchIndex never decreases: a late, reordered success for an older request changes neither index', () => {
    const p = replicating(20, 12);
    const after = progressAfterSuccess(p, 5);
    expect(after.matchIndex).toBe(12);
    expect(after.nextIndex).toBe(20);
  });
});

describe('progressAfterRejection (backing off nextIndex)', () => {
  const leader = logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);

  it('a stale rejection for an index already known to match changes nothing', () => {
    const p = replicating(9, 8);
    expect(progressAfterRejection(p, 5, { conflictTerm: 0, conflictIndex: 3 }, leader)).toBe(p);
    expect(progressAfterRejection(p, 8, { conflictTerm: 0, conflictIndex: 3 }, leader)).toBe(p);
  });

  it('in probe mode only the answer to the outstanding probe moves nextIndex', () => {
    const p = probe(8, 0, true); // probing with prevLogIndex 7
    expect(progressAfterRejection(p, 9, { conflictTerm: 0, conflictIndex: 3 }, leader)).toBe(p); // an older probe's answer
    expect(progressAfterRejection(p, 7, { conflictTerm: 0, conflictIndex: 3 }, leader).nextIndex).toBe(3);
  });

  it('a rejection skips a whole conflicting term per round trip, using the conflict hint', () => {
    // The follower has term 3 from index 7 on; the leader has no term 3: jump to 7.
    expect(progressAfterRejection(probe(11), 10, { conflictTerm: 3, conflictIndex: 7 }, leader).nextIndex).toBe(7);
    // The follower has term 4 at 4..7; the leader's last term-4 entry is 5: resume at 6.
    expect(progressAfterRejection(probe(8), 7, { conflictTerm: 4, conflictIndex: 4 }, leader).nextIndex).toBe(6);
  });

  it('a rejection while pipelining falls back to probing', () => {
    const after = progressAfterRejection(replicating(15, 4), 9, { conflictTerm: 0, conflictIndex: 7 }, leader);
    expect(after).toEqual({ nextIndex: 7, matchIndex: 4, mode: 'probe', probeSent: false });
  });

  it('nextIndex never falls to or below matchIndex, whatever the hint says', () => {
    const after = progressAfterRejection(replicating(15, 6), 9, { conflictTerm: 0, conflictIndex: 1 }, leader);
    expect(after.nextIndex).toBe(7);
  });

  it('nextIndex never rises above the rejected index, whatever the hint says', () => {
    // A hint pointing past the rejected index (e.g. from a confused follower) must not make the leader skip ahead.
    const after = progressAfterRejection(probe(5), 4, { conflictTerm: 6, conflictIndex: 9 }, leader);
    expect(after.nextIndex).toBeLessThanOrEqual(4);
  });

  it('conflict hint backoff always makes progress: new nextIndex ≤ rejected index and > matchIndex (property)', () => {
    const arb = fc
      .record({
        steps: fc.array(fc.nat({ max: 2 }), { maxLength: 15 }),
        match: fc.nat(),
        gap: fc.integer({ min: 1, max: 20 }),
        mode: fc.constantFrom('probe' as const, 'replicate' as const),
        rejectedOffset: fc.nat(),
        conflictTerm: fc.nat({ max: 20 }),
        conflictIndex: fc.nat({ max: 40 }),
      })
      .map((r) => {
        let t = 1;
        const terms = r.steps.map((s) => (t += s));
        const matchIndex = r.match % (terms.length + 1);
        const nextIndex = matchIndex + r.gap;
        // In probe mode only the outstanding probe's answer counts; while pipelining any index above matchIndex.
        const rejectedIndex = r.mode === 'probe' ? nextIndex - 1 : matchIndex + 1 + (r.rejectedOffset % r.gap);
        return { ...r, terms, matchIndex, nextIndex, rejectedIndex };
      })
      .filter((r) => r.rejectedIndex > r.matchIndex);
    fc.assert(
      fc.property(arb, (r) => {
        const p: Progress = { nextIndex: r.nextIndex, matchIndex: r.matchIndex, mode: r.mode, probeSent: true };
        const after = progressAfterRejection(p, r.rejectedIndex, { conflictTerm: r.conflictTerm, conflictIndex: r.conflictIndex }, logOf(r.terms));
        expect(after.nextIndex).toBeLessThanOrEqual(r.rejectedIndex);
        expect(after.nextIndex).toBeGreaterThan(r.matchIndex);
        expect(after.matchIndex).toBe(r.matchIndex);
        expect(after.mode).toBe('probe');
        expect(after.probeSent).toBe(false);
      }),
    );
  });
});

describe('nextAppend (what to send a follower now)', () => {
  it('probe mode sends one AppendEntries at a time until it is answered', () => {
    const first = nextAppend(probe(4), 10, 100, false);
    expect(first).toMatchObject({ from: 4, to: 10 });
    expect(first?.progress.probeSent).toBe(true);
    expect(nextAppend(first!.progress, 10, 100, false)).toBeUndefined();
  });

  it('a heartbeat is sent even while a probe is outstanding', () => {
    expect(nextAppend(probe(4, 0, true), 10, 100, true)).toMatchObject({ from: 4, to: 10 });
  });

  it('a probe is sent even when the follower may already be up to date (empty AppendEntries)', () => {
    expect(nextAppend(probe(11), 10, 100, false)).toMatchObject({ from: 11, to: 10 });
  });

  it('replicate mode pipelines: nextIndex advances past what was sent, without waiting for the answer', () => {
    const plan = nextAppend(replicating(4, 3), 10, 100, false);
    expect(plan).toMatchObject({ from: 4, to: 10 });
    expect(plan?.progress.nextIndex).toBe(11);
    expect(plan?.progress.matchIndex).toBe(3); // matchIndex moves only on a reply
  });

  it('replicate mode sends nothing when the follower has everything, except an empty heartbeat', () => {
    expect(nextAppend(replicating(11, 10), 10, 100, false)).toBeUndefined();
    const beat = nextAppend(replicating(11, 10), 10, 100, true);
    expect(beat).toMatchObject({ from: 11, to: 10 });
    expect(beat?.progress).toEqual(replicating(11, 10));
  });

  it('one AppendEntries carries at most maxEntries entries (an event carries a batch, not a whole log)', () => {
    expect(nextAppend(probe(1), 1000, 256, false)).toMatchObject({ from: 1, to: 256 });
    expect(nextAppend(replicating(1, 0), 1000, 256, false)).toMatchObject({ from: 1, to: 256 });
  });

  it('every planned message starts at nextIndex, ends within the log, and respects maxEntries (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 50 }),
        fc.nat({ max: 60 }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom('probe' as const, 'replicate' as const),
        fc.boolean(),
        fc.boolean(),
        (lastIndex, nextOffset, maxEntries, mode, probeSent, heartbeat) => {
          const nextIndex = 1 + (nextOffset % (lastIndex + 1));
          const p: Progress = { nextIndex, matchIndex: 0, mode, probeSent: mode === 'probe' && probeSent };
          const plan = nextAppend(p, lastIndex, maxEntries, heartbeat);
          if (heartbeat) expect(plan).toBeDefined();
          if (plan === undefined) return;
          expect(plan.from).toBe(nextIndex);
          expect(plan.to).toBeLessThanOrEqual(lastIndex);
          expect(plan.to).toBeGreaterThanOrEqual(plan.from - 1);
          expect(plan.to - plan.from + 1).toBeLessThanOrEqual(maxEntries);
          expect(plan.progress.matchIndex).toBe(p.matchIndex);
          if (mode === 'replicate') expect(plan.progress.nextIndex).toBe(plan.to + 1);
        },
      ),
    );
  });
});

describe('replication end to end over the core rules', () => {
  it("Figure 7: every follower ends with exactly the leader's log", () => {
    // The term-8 leader of Figure 7, after appending its own no-op at index 11.
    const leader = logOf([1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8], 'L');
    const followers: Record<string, Term[]> = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    for (const [name, terms] of Object.entries(followers)) {
      // Entries the follower shares with the leader are the same entries (Log Matching).
      let agree = 0;
      while (agree < terms.length && agree < leader.lastIndex && terms[agree] === leader.termAt(agree + 1)) agree++;
      const start = RaftLog.from([...leader.slice(1, agree), ...entries(terms.slice(agree), agree + 1, name)]);
      const { follower } = replicateToFollower(leader, start);
      expect(follower.toArray(), `follower ${name}`).toEqual(leader.toArray());
    }
  });

  it("a diverged follower converges on the leader's log, with at most one rejection per conflicting term plus one (property)", () => {
    // Shared prefix, then suffixes with terms the other never used (leader even, follower odd).
    const termsArb = fc.array(fc.nat({ max: 1 }), { maxLength: 10 }).map((steps) => {
      let t = 1;
      return steps.map((s) => (t += s));
    });
    const suffix = (start: Term, steps: readonly number[]) => {
      let t = start;
      return steps.map((s) => (t += 2 * s));
    };
    fc.assert(
      fc.property(
        termsArb,
        fc.array(fc.nat({ max: 1 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat({ max: 1 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        (prefix, lSteps, fSteps, maxEntries) => {
          const base = 2 * ((prefix.at(-1) ?? 0) + 1);
          const leader = logOf([...prefix, ...suffix(base, lSteps)], 'L');
          const fSuffix = suffix(base + 1, fSteps);
          const start = RaftLog.from([...leader.slice(1, prefix.length), ...entries(fSuffix, prefix.length + 1, 'F')]);
          const { follower, rejections } = replicateToFollower(leader, start, maxEntries);
          expect(follower.toArray()).toEqual(leader.toArray());
          expect(rejections).toBeLessThanOrEqual(new Set(fSuffix).size + 1);
        },
      ),
    );
  });
});

describe('nextSnapshotChunk (sending a snapshot to a follower that needs compacted entries)', () => {
  const snapshot = { index: 10, data: 'x'.repeat(25) };
  const start: Progress = { nextIndex: 5, matchIndex: 0, mode: 'probe', probeSent: false };

  it('sends the first chunk, then nothing until it is answered', () => {
    const first = nextSnapshotChunk(start, snapshot, 10, false);
    expect(first).toMatchObject({ kind: 'chunk', offset: 0, data: 'x'.repeat(10), done: false });
    expect(nextSnapshotChunk((first as { progress: Progress }).progress, snapshot, 10, false)).toBeUndefined();
  });

  it('answers heartbeats with keepalives while a chunk is outstanding, and sends it again only after SNAPSHOT_RESEND_HEARTBEATS of them', () => {
    let progress = (nextSnapshotChunk(start, snapshot, 10, false) as { progress: Progress }).progress;
    const kinds: string[] = [];
    for (let beat = 1; beat <= 2 * SNAPSHOT_RESEND_HEARTBEATS; beat++) {
      const send = nextSnapshotChunk(progress, snapshot, 10, true) as SnapshotSend;
      kinds.push(send.kind);
      progress = send.progress;
    }
    // One chunk copy per SNAPSHOT_RESEND_HEARTBEATS heartbeats, not one per heartbeat: on a slow
    // link, copies queued behind the first would otherwise grow without end.
    const keepalives = Array<string>(SNAPSHOT_RESEND_HEARTBEATS - 1).fill('keepalive');
    expect(SNAPSHOT_RESEND_HEARTBEATS).toBeGreaterThan(1);
    expect(kinds).toEqual([...keepalives, 'chunk', ...keepalives, 'chunk']);
  });

  it('goes on from the offset the follower reports, with a fresh count of unanswered heartbeats', () => {
    let progress = (nextSnapshotChunk(start, snapshot, 10, false) as { progress: Progress }).progress;
    progress = (nextSnapshotChunk(progress, snapshot, 10, true) as SnapshotSend).progress; // one keepalive
    progress = progressAfterSnapshotReply(progress, { lastIncludedIndex: 10, offset: 10, installed: false }, 10);
    const second = nextSnapshotChunk(progress, snapshot, 10, false) as SnapshotSend;
    expect(second).toMatchObject({ kind: 'chunk', offset: 10, done: false });
    expect(second.progress.unanswered).toBeUndefined();
    const beats = Array.from({ length: SNAPSHOT_RESEND_HEARTBEATS - 1 }, () => {
      const send = nextSnapshotChunk(second.progress, snapshot, 10, true) as SnapshotSend;
      return send.kind;
    });
    expect(beats.every((kind) => kind === 'keepalive')).toBe(true);
  });
});

describe('progressAfterSnapshotReply and the snapshot mode (Figure 13 on the leader)', () => {
  const snapshot = { index: 10, data: 'x'.repeat(25) };
  const sending: Progress = { nextIndex: 5, matchIndex: 0, mode: 'snapshot', probeSent: true, sending: 10, offset: 10 };

  it('installed: the follower holds everything up to the snapshot; replicate after it', () => {
    expect(progressAfterSnapshotReply(sending, { lastIncludedIndex: 10, offset: 25, installed: true }, 10)).toEqual({
      nextIndex: 11,
      matchIndex: 10,
      mode: 'replicate',
      probeSent: false,
    });
  });

  it('a late reply to a transfer that is over changes nothing', () => {
    const replicating: Progress = { nextIndex: 12, matchIndex: 11, mode: 'replicate', probeSent: false };
    expect(progressAfterSnapshotReply(replicating, { lastIncludedIndex: 10, offset: 10, installed: false }, 10)).toBe(replicating);
  });

  it('a reply about another snapshot, or while the leader sends a newer one, starts the current snapshot again at offset 0', () => {
    expect(progressAfterSnapshotReply(sending, { lastIncludedIndex: 7, offset: 10, installed: false }, 10)).toMatchObject({
      mode: 'snapshot',
      sending: 10,
      offset: 0,
      probeSent: false,
    });
    expect(progressAfterSnapshotReply(sending, { lastIncludedIndex: 10, offset: 10, installed: false }, 12)).toMatchObject({ mode: 'snapshot', sending: 12, offset: 0 });
    expect(progressAfterSnapshotReply(sending, { lastIncludedIndex: 10, offset: 20, installed: false }, 10)).toMatchObject({ sending: 10, offset: 20 });
  });

  it("an offset resumes only the transfer it was reported for: a transfer of another snapshot starts the current one at 0, whatever the reply's offset", () => {
    expect(progressAfterSnapshotReply({ ...sending, sending: 7 }, { lastIncludedIndex: 10, offset: 20, installed: false }, 10)).toMatchObject({ sending: 10, offset: 0 });
  });

  it('the chunk that reaches the end of the data is the last (done), and only that one', () => {
    let progress: Progress = { nextIndex: 5, matchIndex: 0, mode: 'probe', probeSent: false };
    const done: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const send = nextSnapshotChunk(progress, snapshot, 10, false) as Extract<SnapshotSend, { kind: 'chunk' }>;
      done.push(send.done);
      progress = progressAfterSnapshotReply(send.progress, { lastIncludedIndex: 10, offset: send.offset + send.data.length, installed: false }, 10);
    }
    expect(done).toEqual([false, false, true]);
    expect(nextSnapshotChunk({ ...progress, offset: 15 }, { index: 10, data: 'x'.repeat(20) }, 5, false)).toMatchObject({ offset: 15, data: 'xxxxx', done: true });
  });

  it('a follower being sent an older snapshot gets the current one from offset 0 at once, even with a chunk of the old one outstanding', () => {
    const older: Progress = { ...sending, sending: 5, offset: 10 };
    expect(nextSnapshotChunk(older, snapshot, 10, false)).toMatchObject({ kind: 'chunk', offset: 0, progress: { sending: 10 } });
  });

  it('an AppendEntries rejection from before the transfer began changes nothing in snapshot mode', () => {
    const log = RaftLog.from(entries([1, 1, 1, 1]));
    expect(progressAfterRejection({ ...sending, matchIndex: 0 }, 4, { conflictIndex: 2, conflictTerm: 1 }, log)).toEqual({ ...sending, matchIndex: 0 });
  });
});
