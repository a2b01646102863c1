import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCommittable } from '../../src/core/commit.js';
import {
  admitWaitingReads,
  advanceLeaderCommit,
  appendCommands,
  appendEntriesMessage,
  hasCommittedInTerm,
  heardFrom,
  isPlausibleReply,
  isPlausibleSnapshotReply,
  mostUpToDateVoter,
  progressOf,
  reconfigure,
  removedByLatest,
  replicate,
  replicationTargetsNow,
  sendTimeoutNowIfCaughtUp,
  serveConfirmedReads,
  withProgress,
} from '../../src/core/leader.js';
import { RaftLog } from '../../src/core/log.js';
import { initialContext, withConfigs, type EffectSink, type RaftContext, type RaftEffect } from '../../src/core/node.js';
import type { PendingRead } from '../../src/core/read.js';
import { SNAPSHOT_RESEND_HEARTBEATS, type Progress } from '../../src/core/replication.js';
import type { ConfigHistory, Configuration } from '../../src/core/configuration.js';
import type { AppendEntries, AppendEntriesResult, InstallSnapshotResult, LogEntry, NodeId, Term } from '../../src/core/types.js';

type Ctx = RaftContext<unknown>;
type Effect = RaftEffect<unknown>;

function entries(terms: readonly Term[], first = 1): LogEntry<string>[] {
  return terms.map((term, i) => ({ term, index: first + i, command: `c${first + i}@${term}` }));
}

const probe = (nextIndex: number, matchIndex = 0, probeSent = false): Progress => ({ nextIndex, matchIndex, mode: 'probe', probeSent });
const replicating = (nextIndex: number, matchIndex: number): Progress => ({ nextIndex, matchIndex, mode: 'replicate', probeSent: false });

interface LeaderSetup {
  /** Every voter, n1 (the leader) included. Default n1..n3. */
  voters?: readonly NodeId[];
  /** The term of each log entry, index 1 first. */
  terms: readonly Term[];
  currentTerm: Term;
  commitIndex?: number;
  /** Default: commitIndex. */
  lastApplied?: number;
  /** Progress per follower; a follower left out has none (the defaults of progressOf apply). */
  progress?: Readonly<Record<NodeId, Progress>>;
  maxEntriesPerMessage?: number;
  readSeq?: number;
  ackedSeq?: Readonly<Record<NodeId, number>>;
  reads?: readonly PendingRead[];
}

/** n1 leading in `currentTerm` over a log of `terms`, with the given per-follower progress and reads. */
function leader(setup: LeaderSetup): Ctx {
  const base = initialContext<unknown>({
    id: 'n1',
    peers: setup.voters ?? ['n1', 'n2', 'n3'],
    ...(setup.maxEntriesPerMessage !== undefined ? { maxEntriesPerMessage: setup.maxEntriesPerMessage } : {}),
  });
  const commitIndex = setup.commitIndex ?? 0;
  const progress = Object.entries(setup.progress ?? {});
  return {
    ...base,
    currentTerm: setup.currentTerm,
    votedFor: 'n1',
    leaderId: 'n1',
    heardFromLeader: true,
    log: RaftLog.from(entries(setup.terms)),
    commitIndex,
    lastApplied: setup.lastApplied ?? commitIndex,
    nextIndex: Object.fromEntries(progress.map(([peer, p]) => [peer, p.nextIndex])),
    matchIndex: Object.fromEntries(progress.map(([peer, p]) => [peer, p.matchIndex])),
    replication: Object.fromEntries(progress.map(([peer, p]) => [peer, { mode: p.mode, probeSent: p.probeSent }])),
    readSeq: setup.readSeq ?? 0,
    ackedSeq: setup.ackedSeq ?? {},
    reads: setup.reads ?? [],
  };
}

interface RecordingSink extends EffectSink {
  readonly effects: Effect[];
  /** Every (entryTerm, currentTerm) the commit rule asked the guard about. */
  readonly guardCalls: [Term | undefined, Term][];
}

/** Records every effect; the commit guard is the real `isCommittable` unless a stub is given. */
function recordingSink(guard: (entryTerm: Term | undefined, currentTerm: Term) => boolean = isCommittable): RecordingSink {
  const effects: Effect[] = [];
  const guardCalls: [Term | undefined, Term][] = [];
  return {
    effects,
    guardCalls,
    emit: (effect) => effects.push(effect),
    isCommittable: (entryTerm, currentTerm) => {
      guardCalls.push([entryTerm, currentTerm]);
      return guard(entryTerm, currentTerm);
    },
  };
}

function sends(effects: readonly Effect[]): { to: NodeId; message: AppendEntries<unknown> }[] {
  return effects.flatMap((e) => (e.type === 'send' && e.message.type === 'rpc.appendEntries' ? [{ to: e.to, message: e.message }] : []));
}

function sendTo(effects: readonly Effect[], peer: NodeId): AppendEntries<unknown>[] {
  return sends(effects)
    .filter((s) => s.to === peer)
    .map((s) => s.message);
}

function applied(effects: readonly Effect[]): number[] {
  return effects.flatMap((e) => (e.type === 'apply' ? e.entries.map((entry) => entry.index) : []));
}

function reply(from: NodeId, seq: number, success = true): AppendEntriesResult {
  return { type: 'rpc.appendEntriesResult', from, term: 3, requestTerm: 3, success, matchIndex: success ? 3 : 0, rejectedIndex: 3, conflictTerm: 0, conflictIndex: 1, seq };
}

const read = (id: string, seq: number, index = 0): PendingRead => ({ requestIds: [id], index, seq });

// ---------------------------------------------------------------- progress bookkeeping

describe('progress per follower (Figure 2, "Volatile state on leaders")', () => {
  it('a follower the leader has no progress for is treated as new: nextIndex = last + 1, matchIndex = 0, probing', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2 });
    expect(progressOf(ctx, 'n2')).toEqual({ nextIndex: 4, matchIndex: 0, mode: 'probe', probeSent: false });
  });

  it('progressOf reads back what withProgress wrote, for that follower only, without touching the old context', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, progress: { n2: probe(4), n3: replicating(3, 2) } });
    const patched = { ...ctx, ...withProgress(ctx, 'n2', replicating(4, 3)) };
    expect(progressOf(patched, 'n2')).toEqual(replicating(4, 3));
    expect(progressOf(patched, 'n3')).toEqual(replicating(3, 2));
    // An older snapshot must stay valid after later events.
    expect(progressOf(ctx, 'n2')).toEqual(probe(4));
  });
});

// ---------------------------------------------------------------- AppendEntries

describe('appendEntriesMessage (Figure 2, AppendEntries RPC arguments)', () => {
  it('carries the term, the leader, the entry before `from` as prevLogIndex/prevLogTerm, entries from..to, leaderCommit and the read round', () => {
    // lastApplied lags commitIndex: followers must learn what is committed, not what the leader has applied.
    const ctx = leader({ terms: [1, 1, 2, 3, 3], currentTerm: 3, commitIndex: 2, lastApplied: 1, readSeq: 4 });
    expect(appendEntriesMessage(ctx, 3, 4)).toEqual({
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 3,
      leaderId: 'n1',
      prevLogIndex: 2,
      prevLogTerm: 1,
      entries: entries([2, 3], 3),
      leaderCommit: 2,
      seq: 4,
    });
  });

  it('a message from the first entry matches on the empty log sentinel: prevLogIndex 0, prevLogTerm 0', () => {
    const msg = appendEntriesMessage(leader({ terms: [2, 2], currentTerm: 2 }), 1, 2);
    expect(msg.prevLogIndex).toBe(0);
    expect(msg.prevLogTerm).toBe(0);
    expect(msg.entries).toEqual(entries([2, 2]));
  });
});

describe('replicate: the leader sends each follower what it lacks (Figure 2, "Rules for Servers, Leaders")', () => {
  it('a heartbeat sends one AppendEntries to every follower, empty when it is caught up', () => {
    const ctx = leader({
      terms: [1, 1, 2, 3, 3],
      currentTerm: 3,
      commitIndex: 5,
      readSeq: 7,
      progress: { n2: replicating(6, 5), n3: replicating(6, 5) },
    });
    const sink = recordingSink();
    const next = replicate(ctx, sink, true);
    const expected = { type: 'rpc.appendEntries', from: 'n1', term: 3, leaderId: 'n1', prevLogIndex: 5, prevLogTerm: 3, entries: [], leaderCommit: 5, seq: 7 };
    expect(sends(sink.effects)).toEqual([
      { to: 'n2', message: expected },
      { to: 'n3', message: expected },
    ]);
    expect(sink.effects).toHaveLength(2);
    expect(next.nextIndex).toEqual({ n2: 6, n3: 6 });
  });

  it('a heartbeat to a lagging follower carries what it lacks, with prevLogIndex/prevLogTerm of the entry before nextIndex', () => {
    const ctx = leader({
      terms: [1, 1, 2, 3, 3],
      currentTerm: 3,
      commitIndex: 3,
      progress: { n2: replicating(4, 3), n3: probe(3, 0, true) },
    });
    const sink = recordingSink();
    const next = replicate(ctx, sink, true);
    expect(sendTo(sink.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 3, prevLogTerm: 2, entries: entries([3, 3], 4), leaderCommit: 3 })]);
    expect(sendTo(sink.effects, 'n3')).toEqual([expect.objectContaining({ prevLogIndex: 2, prevLogTerm: 1, entries: entries([2, 3, 3], 3) })]);
    // Pipelining moves nextIndex on; a probe does not (we do not know where the logs meet).
    expect(progressOf(next, 'n2')).toEqual(replicating(6, 3));
    expect(progressOf(next, 'n3')).toEqual(probe(3, 0, true));
  });

  it('a follower the leader has no progress for gets an empty probe at the end of the log on a heartbeat', () => {
    const ctx = leader({ terms: [1, 2], currentTerm: 2 });
    const sink = recordingSink();
    replicate(ctx, sink, true);
    expect(sends(sink.effects).map((s) => [s.to, s.message.prevLogIndex, s.message.prevLogTerm, s.message.entries.length])).toEqual([
      ['n2', 2, 2, 0],
      ['n3', 2, 2, 0],
    ]);
  });

  it('in replicate mode new entries go out at once, without waiting for a heartbeat, and nextIndex advances', () => {
    const ctx = leader({ terms: [1, 1, 2, 3, 3], currentTerm: 3, progress: { n2: replicating(5, 4), n3: replicating(4, 3) } });
    const sink = recordingSink();
    const next = replicate(ctx, sink, false);
    expect(sendTo(sink.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 4, entries: entries([3], 5) })]);
    expect(sendTo(sink.effects, 'n3')).toEqual([expect.objectContaining({ prevLogIndex: 3, entries: entries([3, 3], 4) })]);
    expect(next.nextIndex).toEqual({ n2: 6, n3: 6 });
    // matchIndex moves only on the follower's answer.
    expect(next.matchIndex).toEqual({ n2: 4, n3: 3 });
  });

  it('in replicate mode a caught-up follower gets nothing between heartbeats, and nothing is sent twice', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, progress: { n2: replicating(3, 2), n3: replicating(4, 3) } });
    const sink = recordingSink();
    const once = replicate(ctx, sink, false);
    expect(sends(sink.effects).map((s) => s.to)).toEqual(['n2']);
    const again = recordingSink();
    expect(replicate(once, again, false)).toEqual(once);
    expect(again.effects).toEqual([]);
  });

  it('in probe mode only one AppendEntries is outstanding: no second send until the answer or the next heartbeat', () => {
    const ctx = leader({ terms: [1, 1, 2, 3, 3], currentTerm: 3, progress: { n2: probe(4), n3: replicating(6, 5) } });
    const first = recordingSink();
    const probed = replicate(ctx, first, false);
    expect(sendTo(first.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 3, prevLogTerm: 2, entries: entries([3, 3], 4) })]);
    expect(progressOf(probed, 'n2')).toEqual(probe(4, 0, true));

    const second = recordingSink();
    expect(replicate(probed, second, false)).toEqual(probed);
    expect(second.effects).toEqual([]);

    // The heartbeat re-sends the same probe, so a lost one does not stall the follower forever.
    const beat = recordingSink();
    const after = replicate(probed, beat, true);
    expect(sendTo(beat.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 3, entries: entries([3, 3], 4) })]);
    expect(progressOf(after, 'n2')).toEqual(probe(4, 0, true));
  });

  it('`only` restricts the round to that follower and leaves the others untouched', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, progress: { n2: probe(2), n3: probe(3) } });
    const sink = recordingSink();
    const next = replicate(ctx, sink, true, 'n3');
    expect(sends(sink.effects).map((s) => s.to)).toEqual(['n3']);
    expect(progressOf(next, 'n2')).toEqual(probe(2));
    expect(progressOf(next, 'n3')).toEqual(probe(3, 0, true));
  });

  it('`only` naming a server the leader does not replicate to sends nothing and changes nothing', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, progress: { n2: probe(2), n3: probe(3) } });
    const sink = recordingSink();
    expect(replicate(ctx, sink, true, 'stranger')).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it('maxEntriesPerMessage caps one message; the rest follows in later messages, in order, without gaps', () => {
    const ctx = leader({ terms: [1, 1, 2, 3, 3], currentTerm: 3, maxEntriesPerMessage: 2, progress: { n2: replicating(1, 0) } });
    let next = ctx;
    const sink = recordingSink();
    for (let i = 0; i < 4; i++) next = replicate(next, sink, false, 'n2');
    expect(sendTo(sink.effects, 'n2').map((m) => [m.prevLogIndex, m.entries.map((e) => e.index)])).toEqual([
      [0, [1, 2]],
      [2, [3, 4]],
      [4, [5]],
    ]);
    expect(progressOf(next, 'n2').nextIndex).toBe(6);
  });

  it('maxEntriesPerMessage caps a probe too', () => {
    const ctx = leader({ terms: [1, 1, 2, 3, 3], currentTerm: 3, maxEntriesPerMessage: 2, progress: { n2: probe(2) } });
    const sink = recordingSink();
    replicate(ctx, sink, true, 'n2');
    expect(sendTo(sink.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 1, entries: entries([1, 2], 2) })]);
  });

  it('every message is a consistent slice of the leader log: prevLogTerm is the term at prevLogIndex, entries follow it, at most the cap (property)', () => {
    const arbProgress = (last: number) =>
      fc.record({
        match: fc.nat({ max: last }),
        gap: fc.nat({ max: last + 1 }),
        mode: fc.constantFrom('probe' as const, 'replicate' as const),
        probeSent: fc.boolean(),
      });
    const arb = fc
      .record({ steps: fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 12 }), cap: fc.integer({ min: 1, max: 4 }), heartbeat: fc.boolean() })
      .chain(({ steps, cap, heartbeat }) =>
        fc.record({ steps: fc.constant(steps), cap: fc.constant(cap), heartbeat: fc.constant(heartbeat), n2: arbProgress(steps.length), n3: arbProgress(steps.length) }),
      );
    fc.assert(
      fc.property(arb, ({ steps, cap, heartbeat, n2, n3 }) => {
        let t = 1;
        const terms = steps.map((s) => (t += s));
        const last = terms.length;
        const toProgress = (p: typeof n2): Progress => ({
          matchIndex: p.match,
          nextIndex: Math.min(last + 1, p.match + 1 + p.gap),
          mode: p.mode,
          probeSent: p.mode === 'probe' && p.probeSent,
        });
        const ctx = leader({ terms, currentTerm: t, maxEntriesPerMessage: cap, progress: { n2: toProgress(n2), n3: toProgress(n3) } });
        const sink = recordingSink();
        replicate(ctx, sink, heartbeat);
        if (heartbeat) expect(sends(sink.effects).map((s) => s.to)).toEqual(['n2', 'n3']);
        for (const { to, message } of sends(sink.effects)) {
          expect(message.prevLogIndex).toBe(progressOf(ctx, to).nextIndex - 1);
          expect(message.prevLogTerm).toBe(ctx.log.termAt(message.prevLogIndex));
          expect(message.entries.length).toBeLessThanOrEqual(cap);
          expect(message.entries).toEqual(ctx.log.slice(message.prevLogIndex + 1, message.prevLogIndex + message.entries.length));
          expect(message.term).toBe(ctx.currentTerm);
        }
      }),
    );
  });
});

// ---------------------------------------------------------------- commit

describe('replicate to a follower being sent a snapshot (§7)', () => {
  /** n1 leading in term 3 with its log compacted up to 10 (term 2), n2 needing entries behind it. */
  function compacted(n2: Progress): Ctx {
    const ctx = leader({ terms: [], currentTerm: 3, commitIndex: 10, progress: { n2 } });
    return { ...ctx, log: RaftLog.from(entries([3, 3], 11), { index: 10, term: 2 }), snapshot: { index: 10, term: 2, data: 'x'.repeat(30) }, commitIndex: 12, lastApplied: 12 };
  }
  const installs = (effects: readonly Effect[]) => effects.filter((e) => e.type === 'send' && e.to === 'n2' && e.message.type === 'rpc.installSnapshot');

  it('while a chunk is outstanding, a heartbeat is an empty AppendEntries at the snapshot’s last entry, and the chunk goes again only after SNAPSHOT_RESEND_HEARTBEATS', () => {
    expect(SNAPSHOT_RESEND_HEARTBEATS).toBeGreaterThan(1);
    let ctx = replicate(compacted(probe(5)), recordingSink(), false, 'n2'); // the first chunk leaves
    expect(progressOf(ctx, 'n2')).toMatchObject({ mode: 'snapshot', probeSent: true, sending: 10 });
    for (let beat = 1; beat < SNAPSHOT_RESEND_HEARTBEATS; beat++) {
      const sink = recordingSink();
      ctx = replicate(ctx, sink, true, 'n2');
      expect(installs(sink.effects)).toEqual([]);
      expect(sendTo(sink.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 10, prevLogTerm: 2, entries: [], leaderCommit: 12 })]);
    }
    const sink = recordingSink();
    replicate(ctx, sink, true, 'n2');
    expect(installs(sink.effects)).toHaveLength(1);
    expect(sendTo(sink.effects, 'n2')).toEqual([]);
  });

  it('a follower whose nextIndex is just past the snapshot is sent entries, not the snapshot', () => {
    const sink = recordingSink();
    replicate(compacted(probe(11)), sink, true, 'n2');
    expect(installs(sink.effects)).toEqual([]);
    expect(sendTo(sink.effects, 'n2')).toEqual([expect.objectContaining({ prevLogIndex: 10, prevLogTerm: 2, entries: entries([3, 3], 11) })]);
  });

  it("a follower whose nextIndex is the snapshot's last index needs a compacted entry before it: it is sent the snapshot", () => {
    const sink = recordingSink();
    const next = replicate(compacted(probe(10)), sink, true, 'n2');
    expect(installs(sink.effects)).toEqual([
      {
        type: 'send',
        to: 'n2',
        message: {
          type: 'rpc.installSnapshot',
          from: 'n1',
          term: 3,
          leaderId: 'n1',
          lastIncludedIndex: 10,
          lastIncludedTerm: 2,
          offset: 0,
          data: 'x'.repeat(30),
          done: true,
          seq: 0,
        },
      },
    ]);
    expect(sendTo(sink.effects, 'n2')).toEqual([]);
    expect(progressOf(next, 'n2')).toMatchObject({ mode: 'snapshot', sending: 10, probeSent: true });
  });

  it('a chunk is at most the smaller of snapshotChunkBytes and maxBytesPerMessage', () => {
    const chunkOf = (snapshotChunkBytes: number, maxBytesPerMessage: number) => {
      const sink = recordingSink();
      replicate({ ...compacted(probe(5)), snapshotChunkBytes, maxBytesPerMessage }, sink, true, 'n2');
      const [send] = installs(sink.effects);
      return send?.type === 'send' && send.message.type === 'rpc.installSnapshot' ? [send.message.data.length, send.message.done] : undefined;
    };
    expect(chunkOf(8, 1000)).toEqual([8, false]);
    expect(chunkOf(1000, 12)).toEqual([12, false]);
  });

  it('between heartbeats nothing is sent to a follower with a chunk outstanding, and its progress is unchanged', () => {
    const sent = replicate(compacted(probe(5)), recordingSink(), false, 'n2');
    const sink = recordingSink();
    expect(replicate(sent, sink, false, 'n2')).toEqual(sent);
    expect(sink.effects).toEqual([]);
  });
});

describe('advanceLeaderCommit: the leader commit rule (Figure 2, §5.4.2)', () => {
  const five = ['n1', 'n2', 'n3', 'n4', 'n5'];

  it('an entry of an earlier term on a majority is not committed by counting replicas (Figure 8 (c))', () => {
    // S1 leads in term 4 with [1, 2, 4]; index 2 (term 2) is on S1, S2, S3, but S5 with [1, 3, 3] could still win and overwrite it.
    const ctx = leader({
      voters: five,
      terms: [1, 2, 4],
      currentTerm: 4,
      commitIndex: 1,
      progress: { n2: replicating(3, 2), n3: replicating(3, 2), n4: probe(2, 1), n5: probe(2, 1) },
    });
    const sink = recordingSink();
    const next = advanceLeaderCommit(ctx, sink);
    expect(next.commitIndex).toBe(1);
    expect(applied(sink.effects)).toEqual([]);
  });

  it('an entry of the current term on a majority commits, and with it every entry before it (Figure 8 (e))', () => {
    const ctx = leader({
      voters: five,
      terms: [1, 2, 4],
      currentTerm: 4,
      commitIndex: 1,
      progress: { n2: replicating(4, 3), n3: replicating(4, 3), n4: probe(2, 1), n5: probe(2, 1) },
    });
    const sink = recordingSink();
    const next = advanceLeaderCommit(ctx, sink);
    expect(next.commitIndex).toBe(3);
    expect(next.lastApplied).toBe(3);
    expect(sink.effects.filter((e) => e.type === 'apply')).toEqual([{ type: 'apply', entries: entries([2, 4], 2) }]);
  });

  it('the leader and one follower are not a majority of five', () => {
    const ctx = leader({ voters: five, terms: [3, 3], currentTerm: 3, progress: { n2: replicating(3, 2) } });
    const sink = recordingSink();
    expect(advanceLeaderCommit(ctx, sink).commitIndex).toBe(0);
    expect(sink.effects).toEqual([]);
  });

  it('commits the highest index a majority holds (the leader counts its own log), not the highest any follower holds', () => {
    const ctx = leader({ terms: [2, 2, 2, 2], currentTerm: 2, commitIndex: 1, progress: { n2: replicating(5, 4), n3: replicating(3, 2) } });
    const sink = recordingSink();
    const next = advanceLeaderCommit(ctx, sink);
    expect(next.commitIndex).toBe(4);
    expect(applied(sink.effects)).toEqual([2, 3, 4]);
    const lagging = leader({ terms: [2, 2, 2, 2], currentTerm: 2, commitIndex: 1, progress: { n2: replicating(3, 2), n3: replicating(2, 1) } });
    expect(advanceLeaderCommit(lagging, recordingSink()).commitIndex).toBe(2);
  });

  it('commitIndex never decreases, even if the guard would allow the lower quorum index', () => {
    // After a restart of followers the leader's view of them can fall behind what it already committed.
    const ctx = leader({ terms: [2, 2, 2, 2], currentTerm: 2, commitIndex: 4, progress: { n2: probe(3, 2), n3: probe(3, 2) } });
    const sink = recordingSink(() => true);
    const next = advanceLeaderCommit(ctx, sink);
    expect(next.commitIndex).toBe(4);
    expect(next.lastApplied).toBe(4);
    expect(sink.effects).toEqual([]);
  });

  it('applies each newly committed entry once: a second call with nothing new emits nothing', () => {
    const ctx = leader({ terms: [1, 2, 2], currentTerm: 2, commitIndex: 1, progress: { n2: replicating(4, 3), n3: replicating(4, 3) } });
    const sink = recordingSink();
    const once = advanceLeaderCommit(ctx, sink);
    advanceLeaderCommit(once, sink);
    expect(applied(sink.effects)).toEqual([2, 3]);
  });

  it('a committed but not yet applied prefix is applied with the new entries, in order', () => {
    const ctx = leader({ terms: [1, 2, 2], currentTerm: 2, commitIndex: 2, lastApplied: 0, progress: { n2: replicating(4, 3), n3: replicating(4, 3) } });
    const sink = recordingSink();
    advanceLeaderCommit(ctx, sink);
    expect(applied(sink.effects)).toEqual([1, 2, 3]);
  });

  it("the term check is the sink's isCommittable, asked about the quorum index's term and the current term", () => {
    const ctx = leader({ terms: [1, 2, 4], currentTerm: 4, commitIndex: 1, progress: { n2: replicating(4, 3), n3: replicating(3, 2) } });
    const sink = recordingSink();
    advanceLeaderCommit(ctx, sink);
    expect(sink.guardCalls).toEqual([[4, 4]]);
  });

  it('a guard that refuses blocks the commit, even of a current-term entry on every voter', () => {
    const ctx = leader({ terms: [1, 2, 2], currentTerm: 2, commitIndex: 1, progress: { n2: replicating(4, 3), n3: replicating(4, 3) } });
    const sink = recordingSink(() => false);
    const next = advanceLeaderCommit(ctx, sink);
    expect(sink.guardCalls).toEqual([[2, 2]]);
    expect(next.commitIndex).toBe(1);
    expect(applied(sink.effects)).toEqual([]);
  });

  it('a guard that allows (a mutant without the term check) commits the old-term entry: the rule lives in the guard', () => {
    // The Figure 8 (c) situation again: with the real guard nothing commits (see above); with `() => true` index 2 does.
    const ctx = leader({
      voters: five,
      terms: [1, 2, 4],
      currentTerm: 4,
      commitIndex: 1,
      progress: { n2: replicating(3, 2), n3: replicating(3, 2), n4: probe(2, 1), n5: probe(2, 1) },
    });
    const sink = recordingSink(() => true);
    expect(advanceLeaderCommit(ctx, sink).commitIndex).toBe(2);
    expect(sink.guardCalls).toEqual([[2, 4]]);
  });

  it('the guard is not asked when the quorum index is not above commitIndex', () => {
    const ctx = leader({ terms: [2, 2], currentTerm: 2, commitIndex: 2, progress: { n2: replicating(3, 2), n3: replicating(3, 2) } });
    const sink = recordingSink();
    advanceLeaderCommit(ctx, sink);
    expect(sink.guardCalls).toEqual([]);
  });

  it('a single-node cluster commits on its own log', () => {
    const ctx = leader({ voters: ['n1'], terms: [1, 2, 2], currentTerm: 2 });
    const sink = recordingSink();
    const next = advanceLeaderCommit(ctx, sink);
    expect(next.commitIndex).toBe(3);
    expect(applied(sink.effects)).toEqual([1, 2, 3]);
  });

  it('a single-node leader still waits for an entry of its own term (Figure 8 applies with one voter too)', () => {
    const ctx = leader({ voters: ['n1'], terms: [1, 1], currentTerm: 2 });
    expect(advanceLeaderCommit(ctx, recordingSink()).commitIndex).toBe(0);
  });

  it('matches reported by non-voters do not count toward the majority', () => {
    const ctx = { ...leader({ terms: [2, 2], currentTerm: 2, progress: { n2: probe(1) } }), matchIndex: { n2: 0, n3: 0, stranger: 2, other: 2 } };
    expect(advanceLeaderCommit(ctx, recordingSink()).commitIndex).toBe(0);
  });

  it('commitIndex is the largest current-term index a majority holds, never below the old one (property vs brute force)', () => {
    const arb = fc.record({
      steps: fc.array(fc.nat({ max: 1 }), { minLength: 1, maxLength: 10 }),
      extraTerm: fc.nat({ max: 1 }),
      matches: fc.array(fc.nat({ max: 12 }), { maxLength: 6 }),
      commit: fc.nat({ max: 12 }),
    });
    fc.assert(
      fc.property(arb, ({ steps, extraTerm, matches, commit }) => {
        let t = 1;
        const terms = steps.map((s) => (t += s));
        const currentTerm = t + extraTerm;
        const last = terms.length;
        const peers = matches.map((_, i) => `p${i}`);
        const matchOf = (m: number) => Math.min(m, last);
        const commitIndex = Math.min(commit, last);
        const progress = Object.fromEntries(peers.map((peer, i) => [peer, replicating(matchOf(matches[i] ?? 0) + 1, matchOf(matches[i] ?? 0))]));
        const ctx = leader({ voters: ['n1', ...peers], terms, currentTerm, commitIndex, progress });
        const next = advanceLeaderCommit(ctx, recordingSink());
        let expected = commitIndex;
        for (let n = last; n > commitIndex; n--) {
          const holders = 1 + peers.filter((_, i) => matchOf(matches[i] ?? 0) >= n).length;
          if (holders * 2 > peers.length + 1 && terms[n - 1] === currentTerm) {
            expected = n;
            break;
          }
        }
        expect(next.commitIndex).toBe(expected);
        expect(next.lastApplied).toBe(expected);
      }),
    );
  });
});

// ---------------------------------------------------------------- ReadIndex

describe('ReadIndex reads at the leader (thesis §6.4)', () => {
  it('hasCommittedInTerm holds only once commitIndex is at an entry of the current term', () => {
    expect(hasCommittedInTerm(leader({ terms: [1, 1], currentTerm: 2, commitIndex: 2 }))).toBe(false);
    expect(hasCommittedInTerm(leader({ terms: [], currentTerm: 1 }))).toBe(false);
    expect(hasCommittedInTerm(leader({ terms: [1, 2], currentTerm: 2, commitIndex: 1 }))).toBe(false);
    expect(hasCommittedInTerm(leader({ terms: [1, 2], currentTerm: 2, commitIndex: 2 }))).toBe(true);
  });

  it('reads wait (seq 0) while the leader has not committed an entry of its term: its commitIndex may be stale', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, commitIndex: 2, readSeq: 0, reads: [read('r1', 0)], progress: { n2: replicating(4, 2), n3: replicating(4, 2) } });
    const sink = recordingSink();
    expect(admitWaitingReads(ctx, sink)).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it('once it has, every waiting read gets commitIndex (not the last index) as its index and one new round, sent as a heartbeat to every follower', () => {
    // Index 4 is appended but not committed: the read point is commitIndex (§6.4), so the read does not wait on a write that may never commit.
    const ctx = leader({
      terms: [1, 1, 2, 2],
      currentTerm: 2,
      commitIndex: 3,
      readSeq: 2,
      reads: [read('old', 2, 2), read('r1', 0), read('r2', 0)],
      progress: { n2: replicating(5, 4), n3: replicating(5, 3) },
    });
    const sink = recordingSink();
    const next = admitWaitingReads(ctx, sink);
    expect(next.readSeq).toBe(3);
    expect(next.reads).toEqual([read('old', 2, 2), read('r1', 3, 3), read('r2', 3, 3)]);
    expect(sends(sink.effects).map((s) => [s.to, s.message.seq, s.message.entries.length])).toEqual([
      ['n2', 3, 0],
      ['n3', 3, 0],
    ]);
  });

  it('with no read waiting no round is started', () => {
    const ctx = leader({ terms: [1, 2], currentTerm: 2, commitIndex: 2, readSeq: 1, reads: [read('a', 1, 2)] });
    const sink = recordingSink();
    expect(admitWaitingReads(ctx, sink)).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it("the commit of the leader's first entry of its term admits the waiting reads and starts their round", () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, commitIndex: 2, reads: [read('r1', 0)], progress: { n2: replicating(4, 3), n3: replicating(4, 2) } });
    const sink = recordingSink();
    const next = advanceLeaderCommit(ctx, sink);
    expect(next.commitIndex).toBe(3);
    expect(next.reads).toEqual([read('r1', 1, 3)]);
    expect(sends(sink.effects).map((s) => [s.to, s.message.seq])).toEqual([
      ['n2', 1],
      ['n3', 1],
    ]);
    // Not served: nobody has answered round 1 yet.
    expect(sink.effects.filter((e) => e.type === 'readReady')).toEqual([]);
    // apply comes before the round's heartbeats; the read is served only after both.
    expect(sink.effects[0]?.type).toBe('apply');
  });

  it('serveConfirmedReads emits readReady only for rounds a majority, the leader included, acknowledged', () => {
    const reads = [read('a', 1, 4), read('b', 2, 5)];
    const base = { terms: [1, 2, 2, 2, 2], currentTerm: 2, commitIndex: 5, readSeq: 2, reads };

    const none = recordingSink();
    expect(serveConfirmedReads(leader({ ...base, ackedSeq: {} }), none)).toMatchObject({ reads });
    expect(none.effects).toEqual([]);

    const first = recordingSink();
    const afterFirst = serveConfirmedReads(leader({ ...base, ackedSeq: { n2: 1 } }), first);
    expect(first.effects).toEqual([{ type: 'readReady', requestIds: ['a'], index: 4 }]);
    expect(afterFirst.reads).toEqual([read('b', 2, 5)]);

    const both = recordingSink();
    const afterBoth = serveConfirmedReads(leader({ ...base, ackedSeq: { n2: 1, n3: 2 } }), both);
    expect(both.effects).toEqual([
      { type: 'readReady', requestIds: ['a'], index: 4 },
      { type: 'readReady', requestIds: ['b'], index: 5 },
    ]);
    expect(afterBoth.reads).toEqual([]);
  });

  it("one follower's answer does not confirm a round in a five-node cluster", () => {
    const ctx = leader({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'], terms: [2], currentTerm: 2, commitIndex: 1, readSeq: 1, reads: [read('a', 1, 1)], ackedSeq: { n2: 1 } });
    const sink = recordingSink();
    expect(serveConfirmedReads(ctx, sink)).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it('answers from nodes that are not voters do not confirm a round', () => {
    const ctx = leader({ terms: [2], currentTerm: 2, commitIndex: 1, readSeq: 1, reads: [read('a', 1, 1)], ackedSeq: { stranger: 1, other: 1 } });
    const sink = recordingSink();
    serveConfirmedReads(ctx, sink);
    expect(sink.effects).toEqual([]);
  });

  it("a read still waiting for the leader's first commit (seq 0) is never served, whatever the acknowledgements", () => {
    const ctx = leader({ terms: [1], currentTerm: 2, commitIndex: 1, readSeq: 3, reads: [read('w', 0)], ackedSeq: { n2: 3, n3: 3 } });
    const sink = recordingSink();
    expect(serveConfirmedReads(ctx, sink)).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it('a single-node leader confirms its own round at once', () => {
    const ctx = leader({ voters: ['n1'], terms: [1, 1, 2], currentTerm: 2, commitIndex: 2, reads: [read('r', 0)] });
    const sink = recordingSink();
    const next = advanceLeaderCommit(ctx, sink);
    expect(sink.effects.filter((e) => e.type === 'readReady')).toEqual([{ type: 'readReady', requestIds: ['r'], index: 3 }]);
    expect(next.reads).toEqual([]);
  });

  it('heardFrom records the highest round each follower answered and never lowers it (replies can be reordered)', () => {
    const ctx = leader({ terms: [2], currentTerm: 2, readSeq: 6, ackedSeq: { n2: 4 } });
    const late = heardFrom(ctx, reply('n2', 2));
    expect(late.ackedSeq).toEqual({ n2: 4 });
    const newer = heardFrom(late, reply('n2', 6));
    expect(newer.ackedSeq).toEqual({ n2: 6 });
    const other = heardFrom(newer, reply('n3', 5, false));
    expect(other.ackedSeq).toEqual({ n2: 6, n3: 5 });
  });

  it('heardFrom marks a follower recently active once, whether it accepted or refused (check-quorum)', () => {
    const ctx = leader({ terms: [2], currentTerm: 2, readSeq: 3 });
    let next = heardFrom(ctx, reply('n2', 1));
    next = heardFrom(next, reply('n2', 2, false));
    next = heardFrom(next, reply('n2', 3));
    expect(next.recentlyActive).toEqual(['n2']);
    next = heardFrom(next, reply('n3', 3, false));
    expect(next.recentlyActive).toEqual(['n2', 'n3']);
    // The old context is untouched.
    expect(ctx.recentlyActive).toEqual([]);
    expect(ctx.ackedSeq).toEqual({});
  });

  // Regression: a reply from a node outside the cluster once counted toward check-quorum (a leader
  // cut off from its voters stayed in office on a stranger's answer).
  it('only voters count toward check-quorum: a reply from a node that is not a voter does not mark anyone active', () => {
    const ctx = leader({ terms: [3], currentTerm: 3 });
    const next = heardFrom(ctx, reply('stranger', 0, false));
    expect(next.recentlyActive.filter((peer) => !ctx.peers.includes(peer))).toEqual([]);
  });
});

// ---------------------------------------------------------------- client commands

describe('appendCommands: a leader appends commands to its own log (Leader Append-Only, Figure 3)', () => {
  it('entries get the current term and consecutive indexes after the last entry', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 3, progress: { n2: probe(4, 0, true), n3: probe(4, 0, true) } });
    const { ctx: next, entries: appended } = appendCommands(ctx, ['x', 'y'], recordingSink());
    expect(appended).toEqual([
      { term: 3, index: 4, command: 'x' },
      { term: 3, index: 5, command: 'y' },
    ]);
    expect(next.log.toArray()).toEqual([...ctx.log.toArray(), ...appended]);
    // The leader never rewrites what it had.
    expect(ctx.log.lastIndex).toBe(3);
  });

  it('emits one persist effect, with the hard state and the new entries, before anything is sent', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 3, commitIndex: 2, progress: { n2: replicating(4, 3), n3: replicating(4, 3) } });
    const sink = recordingSink();
    const { entries: appended } = appendCommands(ctx, ['x'], sink);
    const persists = sink.effects.filter((e) => e.type === 'persist');
    expect(persists).toEqual([{ type: 'persist', hardState: { currentTerm: 3, votedFor: 'n1' }, entries: appended }]);
    expect(sink.effects[0]?.type).toBe('persist');
  });

  it('then replicates: followers in replicate mode get the new entries at once; a follower with a probe outstanding waits', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 3, commitIndex: 2, progress: { n2: replicating(4, 3), n3: probe(2, 0, true) } });
    const sink = recordingSink();
    const { ctx: next, entries: appended } = appendCommands(ctx, ['x', 'y'], sink);
    expect(sends(sink.effects)).toEqual([{ to: 'n2', message: expect.objectContaining({ prevLogIndex: 3, prevLogTerm: 2, entries: appended, leaderCommit: 2 }) }]);
    expect(progressOf(next, 'n2').nextIndex).toBe(6);
  });

  it('an appended entry is not committed before a majority stores it', () => {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 3, commitIndex: 3, progress: { n2: replicating(4, 3), n3: replicating(4, 3) } });
    const sink = recordingSink();
    const { ctx: next } = appendCommands(ctx, ['x'], sink);
    expect(next.commitIndex).toBe(3);
    expect(applied(sink.effects)).toEqual([]);
  });

  it('a single-node leader commits and applies at once, after persisting', () => {
    const ctx = leader({ voters: ['n1'], terms: [1, 1], currentTerm: 2, commitIndex: 2 });
    const sink = recordingSink();
    const { ctx: next } = appendCommands(ctx, ['x'], sink);
    expect(next.commitIndex).toBe(3);
    expect(sink.effects.map((e) => e.type)).toEqual(['persist', 'apply']);
    expect(applied(sink.effects)).toEqual([3]);
  });
});

// ---------------------------------------------------------------- membership changes at the leader

const members = (voters: readonly NodeId[], learners: readonly NodeId[] = []): Configuration => ({ voters, learners });
const threeVoters = { index: 0, config: members(['n1', 'n2', 'n3']) };

/** n1 leading n1..n3 over a log of terms [1, 1, 2, 2] whose entry 3 removes n3. */
function removingN3(commitIndex: number, n3Match: number): Ctx {
  const ctx = leader({ terms: [1, 1, 2, 2], currentTerm: 2, commitIndex, progress: { n2: replicating(5, 4), n3: replicating(n3Match + 1, n3Match) } });
  return withConfigs(ctx, [threeVoters, { index: 3, config: members(['n1', 'n2']) }]);
}

describe('a server being removed (thesis §4.2.2: it must receive the entry that removes it)', () => {
  it('removedByLatest names the servers the latest configuration entry removed, and none without a configuration entry', () => {
    expect(removedByLatest(leader({ terms: [1], currentTerm: 1 }))).toEqual([]);
    expect(removedByLatest(removingN3(2, 2))).toEqual(['n3']);
    // A later entry that adds a learner removes nobody, whatever the one before it removed.
    const added = withConfigs(removingN3(3, 3), [threeVoters, { index: 3, config: members(['n1', 'n2']) }, { index: 4, config: members(['n1', 'n2'], ['n4']) }]);
    expect(removedByLatest(added)).toEqual([]);
  });

  it('while its removal is not committed the leader still replicates to the removed server', () => {
    const ctx = removingN3(2, 2);
    expect(ctx.replicas).toEqual(['n2']);
    expect(replicationTargetsNow(ctx)).toEqual(['n2', 'n3']);
    const sink = recordingSink();
    replicate(ctx, sink, true);
    expect(sendTo(sink.effects, 'n3')).toEqual([expect.objectContaining({ prevLogIndex: 2, entries: entries([2, 2], 3), leaderCommit: 2 })]);
  });

  it('once the removal is committed (commitIndex reaches its entry) the leader no longer replicates to the removed server', () => {
    expect(replicationTargetsNow(removingN3(3, 2))).toEqual(['n2']);
    expect(replicationTargetsNow(leader({ terms: [1], currentTerm: 1 }))).toEqual(['n2', 'n3']);
  });

  it('once committed, a removed server holding its removal is told on each heartbeat by an empty AppendEntries at its matchIndex, and only then', () => {
    const ctx = removingN3(3, 4);
    const beat = recordingSink();
    replicate(ctx, beat, true);
    expect(sendTo(beat.effects, 'n3')).toEqual([
      { type: 'rpc.appendEntries', from: 'n1', term: 2, leaderId: 'n1', prevLogIndex: 4, prevLogTerm: 2, entries: [], leaderCommit: 3, seq: 0 },
    ]);
    const between = recordingSink();
    replicate(ctx, between, false);
    expect(sendTo(between.effects, 'n3')).toEqual([]);
    // The entry that removes it is exactly its matchIndex: it holds it.
    const atEntry = recordingSink();
    replicate(removingN3(3, 3), atEntry, true);
    expect(sendTo(atEntry.effects, 'n3')).toEqual([expect.objectContaining({ prevLogIndex: 3, prevLogTerm: 2, entries: [] })]);
  });

  it('a removed server that lacks the entry removing it is told nothing once the removal is committed', () => {
    const sink = recordingSink();
    replicate(removingN3(3, 2), sink, true);
    expect(sendTo(sink.effects, 'n3')).toEqual([]);
    const unknown = { ...removingN3(3, 2), matchIndex: { n2: 4 } };
    const none = recordingSink();
    replicate(unknown, none, true);
    expect(sendTo(none.effects, 'n3')).toEqual([]);
  });

  it('while the removal is not committed a heartbeat sends the removed server one AppendEntries, not a second removal notice', () => {
    const sink = recordingSink();
    replicate(removingN3(2, 4), sink, true);
    expect(sendTo(sink.effects, 'n3')).toHaveLength(1);
  });
});

describe('isPlausibleReply / isPlausibleSnapshotReply: replies an honest follower cannot send are reported, never acted on', () => {
  const appendReply = (from: NodeId, success: boolean, index: number, seq: number): AppendEntriesResult => ({
    type: 'rpc.appendEntriesResult',
    from,
    term: 2,
    requestTerm: 2,
    success,
    matchIndex: success ? index : 0,
    rejectedIndex: index,
    conflictTerm: 0,
    conflictIndex: 1,
    seq,
  });
  const snapshotReply = (from: NodeId, lastIncludedIndex: number, seq: number): InstallSnapshotResult => ({
    type: 'rpc.installSnapshotResult',
    from,
    term: 2,
    requestTerm: 2,
    lastIncludedIndex,
    offset: 0,
    installed: false,
    seq,
  });
  const ctx = { ...removingN3(2, 2), readSeq: 3 };

  it('a reply from a server the leader neither replicates to nor informs is ignored, silently', () => {
    const sink = recordingSink();
    expect(isPlausibleReply(ctx, appendReply('stranger', true, 1, 1), sink)).toBe(false);
    expect(isPlausibleSnapshotReply(ctx, snapshotReply('stranger', 1, 1), sink)).toBe(false);
    expect(sink.effects).toEqual([]);
  });

  it('a reply about the last entry and the current round, from a replica or from the server being removed, is taken', () => {
    const sink = recordingSink();
    expect(isPlausibleReply(ctx, appendReply('n2', true, 4, 3), sink)).toBe(true);
    expect(isPlausibleReply(ctx, appendReply('n2', false, 4, 3), sink)).toBe(true);
    expect(isPlausibleReply(ctx, appendReply('n3', true, 2, 1), sink)).toBe(true);
    expect(isPlausibleSnapshotReply(ctx, snapshotReply('n2', 4, 3), sink)).toBe(true);
    expect(isPlausibleSnapshotReply(ctx, snapshotReply('n3', 2, 0), sink)).toBe(true);
    expect(sink.effects).toEqual([]);
  });

  it('a match past the end of the log, or a rejection of an entry never sent, is an invariant violation that names the follower, the index and the round', () => {
    const sink = recordingSink();
    expect(isPlausibleReply(ctx, appendReply('n2', true, 5, 3), sink)).toBe(false);
    expect(isPlausibleReply(ctx, appendReply('n2', false, 7, 1), sink)).toBe(false);
    expect(sink.effects).toEqual([
      {
        type: 'invariantViolation',
        rule: 'a follower matches only entries the leader sent',
        detail: 'n2 reports matchIndex 5 (round 3) but the log ends at 4 (round 3)',
      },
      {
        type: 'invariantViolation',
        rule: 'a follower rejects only entries the leader sent',
        detail: 'n2 rejects prevLogIndex 7 (round 1) but the log ends at 4 (round 3)',
      },
    ]);
  });

  it('an answer to a round the leader has not started is an invariant violation', () => {
    const sink = recordingSink();
    expect(isPlausibleReply(ctx, appendReply('n2', true, 1, 4), sink)).toBe(false);
    expect(isPlausibleSnapshotReply(ctx, snapshotReply('n2', 1, 4), sink)).toBe(false);
    expect(sink.effects.map((e) => e.type)).toEqual(['invariantViolation', 'invariantViolation']);
  });

  it('an answer about a snapshot beyond the log is an invariant violation that names the follower, the index and the round', () => {
    const sink = recordingSink();
    expect(isPlausibleSnapshotReply(ctx, snapshotReply('n3', 9, 2), sink)).toBe(false);
    expect(sink.effects).toEqual([
      {
        type: 'invariantViolation',
        rule: 'a follower answers only snapshots the leader sent',
        detail: 'n3 answers about a snapshot at 9 (round 2) but the log ends at 4 (round 3)',
      },
    ]);
  });
});

describe('reconfigure: a configuration change in force at once (thesis §4.1)', () => {
  /** n1..n3 leading, with stale knowledge of an n4 that was once a member (removed, now added again as a new, empty server). */
  function withStaleN4(leaderId: NodeId): Ctx {
    const ctx = leader({ terms: [1, 1, 2], currentTerm: 2, commitIndex: 3, progress: { n2: replicating(3, 2), n3: probe(4, 3, true), n4: replicating(9, 8) } });
    return { ...ctx, leaderId, ackedSeq: { n2: 5, n4: 6 }, recentlyActive: ['n2', 'n4'] };
  }
  const addN4: ConfigHistory = [threeVoters, { index: 4, config: members(['n1', 'n2', 'n3'], ['n4']) }];

  it('announces the configuration in force and the index of its entry', () => {
    const before = withStaleN4('n1');
    const sink = recordingSink();
    const after = reconfigure(before, before, addN4, sink);
    expect(sink.effects).toEqual([{ type: 'configChanged', config: members(['n1', 'n2', 'n3'], ['n4']), index: 4 }]);
    expect([after.config, after.replicas]).toEqual([members(['n1', 'n2', 'n3'], ['n4']), ['n2', 'n3', 'n4']]);
  });

  it('on a leader, a server that enters starts from fresh progress; what was known of an earlier server of its id is forgotten, the others keep theirs', () => {
    const before = withStaleN4('n1');
    const after = reconfigure(before, before, addN4, recordingSink());
    expect(progressOf(after, 'n4')).toEqual(probe(4, 0));
    expect(progressOf(after, 'n2')).toEqual(replicating(3, 2));
    expect(progressOf(after, 'n3')).toEqual(probe(4, 3, true));
    expect(after.ackedSeq).toEqual({ n2: 5 });
    expect(after.recentlyActive).toEqual(['n2']);
  });

  it("on a follower only the configuration changes: it keeps no leader's progress", () => {
    const before = withStaleN4('n2');
    const after = reconfigure(before, before, addN4, recordingSink());
    expect([after.nextIndex, after.matchIndex, after.replication, after.ackedSeq, after.recentlyActive]).toEqual([
      before.nextIndex,
      before.matchIndex,
      before.replication,
      before.ackedSeq,
      before.recentlyActive,
    ]);
  });

  it('the same history changes nothing and announces nothing', () => {
    const before = withStaleN4('n1');
    const sink = recordingSink();
    expect(reconfigure(before, before, before.configs, sink)).toBe(before);
    expect(sink.effects).toEqual([]);
  });
});

describe('leadership transfer at the leader (thesis §3.10)', () => {
  it('once the target holds every entry, it is sent TimeoutNow once, and the transfer records it', () => {
    const ctx = {
      ...leader({ terms: [1, 2], currentTerm: 2, progress: { n2: replicating(3, 2), n3: replicating(2, 1) } }),
      transfer: { to: 'n2', requestId: 't1', timeoutNowSent: false },
    };
    const sink = recordingSink();
    const next = sendTimeoutNowIfCaughtUp(ctx, sink);
    expect(sink.effects).toEqual([{ type: 'send', to: 'n2', message: { type: 'rpc.timeoutNow', from: 'n1', term: 2, leaderId: 'n1' } }]);
    expect(next.transfer).toEqual({ to: 'n2', requestId: 't1', timeoutNowSent: true });
    const again = recordingSink();
    expect(sendTimeoutNowIfCaughtUp(next, again)).toBe(next);
    expect(again.effects).toEqual([]);
  });

  it('a target that lacks entries is not told to campaign yet', () => {
    const ctx = {
      ...leader({ terms: [1, 2], currentTerm: 2, progress: { n2: replicating(3, 2), n3: replicating(2, 1) } }),
      transfer: { to: 'n3', requestId: undefined, timeoutNowSent: false },
    };
    const sink = recordingSink();
    expect(sendTimeoutNowIfCaughtUp(ctx, sink)).toBe(ctx);
    expect(sink.effects).toEqual([]);
  });

  it('mostUpToDateVoter picks the voter with the highest matchIndex, the first in configuration order on a tie, and one even if none has matched', () => {
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
    expect(mostUpToDateVoter(leader({ voters: five, terms: [1, 1, 1], currentTerm: 1, progress: { n2: probe(2, 1), n3: replicating(4, 3), n4: replicating(3, 2) } }))).toBe('n3');
    expect(mostUpToDateVoter(leader({ voters: five, terms: [1, 1, 1], currentTerm: 1, progress: { n3: replicating(3, 2), n5: replicating(3, 2) } }))).toBe('n3');
    expect(mostUpToDateVoter(leader({ voters: five, terms: [1], currentTerm: 1 }))).toBe('n2');
    expect(mostUpToDateVoter(leader({ voters: ['n1'], terms: [1], currentTerm: 1 }))).toBeUndefined();
  });
});
