/**
 * The statechart's snapshot rules (§7, Figure 13), and the small rules the machine's helpers
 * carry, on a real actor with a virtual clock, through the public machine only: a follower
 * receiving a leader's snapshot chunk by chunk (and one it already has), the answer it sends, what
 * it persists and restores, the configuration history it keeps; the host's log compaction and the
 * guard that admits it. Written against the mutants Stryker left alive in machines/raft-node.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RaftEffect } from '../../machines/raft-node.js';
import { configCommand, withConfigHeader, type Configuration } from '../../src/core/configuration.js';
import type { InstallSnapshot, InstallSnapshotResult, LogEntry } from '../../src/core/types.js';
import { node } from './machine-actor.js';

/** A chunk of n2's snapshot, by default the whole of a small one at index 3 of term 1, in term 1. */
function chunk(fields: Partial<InstallSnapshot> = {}): InstallSnapshot {
  return { type: 'rpc.installSnapshot', from: 'n2', term: 1, leaderId: 'n2', lastIncludedIndex: 3, lastIncludedTerm: 1, offset: 0, data: 'S3', done: true, seq: 7, ...fields };
}

function snapshotAnswers(effects: readonly RaftEffect[]): InstallSnapshotResult[] {
  return effects.flatMap((e) => (e.type === 'send' && e.message.type === 'rpc.installSnapshotResult' ? [e.message] : []));
}

function ofType<T extends RaftEffect['type']>(effects: readonly RaftEffect[], type: T): Extract<RaftEffect, { type: T }>[] {
  return effects.filter((e): e is Extract<RaftEffect, { type: T }> => e.type === type);
}

const cfgA: Configuration = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };
const cfgB: Configuration = { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] };
const cfgC: Configuration = { voters: ['n1', 'n2', 'n3', 'n4'], learners: ['n5'] };
const cfgX: Configuration = { voters: ['n1', 'n2', 'n3'], learners: ['n6'] };
const bootstrap: Configuration = { voters: ['n1', 'n2', 'n3'], learners: [] };

function entry(index: number, term: number, command: unknown = `x${index}`): LogEntry {
  return { index, term, command };
}

/** A follower of term 1 whose log (all of term 1, nothing committed) changes its configuration at 2, 3 and 4. */
function followerWithConfigEntries() {
  const log = [entry(1, 1), entry(2, 1, configCommand(cfgA)), entry(3, 1, configCommand(cfgB)), entry(4, 1, configCommand(cfgC)), entry(5, 1)];
  const n = node({ persisted: { currentTerm: 1, votedFor: null, log } });
  expect(n.context().configs.map((r) => r.index)).toEqual([0, 2, 3, 4]);
  n.drain();
  return n;
}

/** A follower of term 1 whose leader n2 has committed its first `commit` entries (of `entries`, all of term 1). */
function followerCommittedTo(commit: number, entries = 5) {
  const log = Array.from({ length: entries }, (_, i) => entry(i + 1, 1));
  const n = node({ persisted: { currentTerm: 1, votedFor: null, log } });
  n.actor.send({ type: 'rpc.appendEntries', from: 'n2', term: 1, leaderId: 'n2', prevLogIndex: entries, prevLogTerm: 1, entries: [], leaderCommit: commit, seq: 0 });
  expect(n.context().commitIndex).toBe(commit);
  n.drain();
  return n;
}

describe('InstallSnapshot receiver (§7, Figure 13)', () => {
  it('a follower answers a snapshot at its commit index as installed, with the offset after the chunk, and restores nothing', () => {
    const n = followerCommittedTo(3);
    n.actor.send(chunk({ lastIncludedIndex: 3, offset: 4, data: 'abcde', done: false }));
    expect(ofType(n.effects, 'persist')).toEqual([]);
    expect(ofType(n.effects, 'restore')).toEqual([]);
    expect(snapshotAnswers(n.effects)).toEqual([
      { type: 'rpc.installSnapshotResult', from: 'n1', term: 1, requestTerm: 1, lastIncludedIndex: 3, offset: 9, installed: true, seq: 7 },
    ]);
    expect(n.context().log.snapshotIndex).toBe(0);
    expect(n.context().commitIndex).toBe(3);
    expect(n.context().incomingSnapshot).toBeUndefined();
  });

  it('a snapshot below the commit index is answered as installed too: the follower never goes back', () => {
    const n = followerCommittedTo(4);
    n.actor.send(chunk({ lastIncludedIndex: 2 }));
    expect(ofType(n.effects, 'persist')).toEqual([]);
    expect(ofType(n.effects, 'restore')).toEqual([]);
    expect(snapshotAnswers(n.effects).map((a) => [a.installed, a.offset, a.lastIncludedIndex])).toEqual([[true, 2, 2]]);
    expect(n.context().lastApplied).toBe(4);
  });

  it('one index past the commit index is installed from the chunks (the at-or-below rule is not "below")', () => {
    const n = followerCommittedTo(2);
    n.actor.send(chunk({ lastIncludedIndex: 3, data: 'S3' }));
    expect(ofType(n.effects, 'restore')).toEqual([{ type: 'restore', snapshot: { index: 3, term: 1, data: 'S3' } }]);
    expect(n.context().commitIndex).toBe(3);
    expect(n.context().log.snapshotIndex).toBe(3);
  });

  it('a transfer the follower has meanwhile committed past is dropped when the next chunk comes', () => {
    const n = followerCommittedTo(2);
    n.actor.send(chunk({ lastIncludedIndex: 4, lastIncludedTerm: 1, data: 'abc', done: false }));
    expect(n.context().incomingSnapshot).toMatchObject({ index: 4, received: 3 });
    // The leader's entries commit up to 4 by AppendEntries while the transfer is under way.
    n.actor.send({ type: 'rpc.appendEntries', from: 'n2', term: 1, leaderId: 'n2', prevLogIndex: 5, prevLogTerm: 1, entries: [], leaderCommit: 4, seq: 0 });
    expect(n.context().commitIndex).toBe(4);
    n.drain();
    n.actor.send(chunk({ lastIncludedIndex: 4, lastIncludedTerm: 1, offset: 3, data: 'de', done: true }));
    expect(n.context().incomingSnapshot).toBeUndefined();
    expect(ofType(n.effects, 'restore')).toEqual([]);
    expect(snapshotAnswers(n.effects).map((a) => [a.installed, a.offset])).toEqual([[true, 5]]);
  });

  it('a first chunk is kept and answered with the offset to send next, not installed', () => {
    const n = followerCommittedTo(0, 0);
    n.actor.send(chunk({ lastIncludedIndex: 3, data: 'abc', done: false }));
    expect(ofType(n.effects, 'persist')).toEqual([]);
    expect(ofType(n.effects, 'restore')).toEqual([]);
    expect(snapshotAnswers(n.effects)).toEqual([
      { type: 'rpc.installSnapshotResult', from: 'n1', term: 1, requestTerm: 1, lastIncludedIndex: 3, offset: 3, installed: false, seq: 7 },
    ]);
    expect(n.context().incomingSnapshot).toEqual({ leaderId: 'n2', index: 3, term: 1, chunks: ['abc'], received: 3 });
  });

  it('a chunk that does not start where the received data ends is answered with the offset held, and changes nothing', () => {
    const n = followerCommittedTo(0, 0);
    n.actor.send(chunk({ data: 'abc', done: false }));
    const held = n.context().incomingSnapshot;
    n.drain();
    n.actor.send(chunk({ offset: 5, data: 'fg', done: true }));
    expect(snapshotAnswers(n.effects).map((a) => [a.installed, a.offset])).toEqual([[false, 3]]);
    expect(ofType(n.effects, 'restore')).toEqual([]);
    expect(n.context().incomingSnapshot).toEqual(held);
  });

  it('the last chunk installs the whole snapshot: persist it, restore from it, answer installed with its length', () => {
    const n = followerCommittedTo(0, 0);
    n.actor.send(chunk({ lastIncludedIndex: 3, lastIncludedTerm: 1, data: 'abc', done: false }));
    n.drain();
    n.actor.send(chunk({ lastIncludedIndex: 3, lastIncludedTerm: 1, offset: 3, data: 'de', done: true, seq: 8 }));
    const snapshot = { index: 3, term: 1, data: 'abcde' };
    expect(ofType(n.effects, 'persist')).toEqual([{ type: 'persist', hardState: { currentTerm: 1, votedFor: null }, snapshot, entries: [] }]);
    expect(ofType(n.effects, 'restore')).toEqual([{ type: 'restore', snapshot }]);
    expect(snapshotAnswers(n.effects)).toEqual([
      { type: 'rpc.installSnapshotResult', from: 'n1', term: 1, requestTerm: 1, lastIncludedIndex: 3, offset: 5, installed: true, seq: 8 },
    ]);
    // The durability order: persisted before restored, restored before the answer leaves.
    expect(n.effects.map((e) => e.type).filter((t) => t === 'persist' || t === 'restore' || t === 'send')).toEqual(['persist', 'restore', 'send']);
    const ctx = n.context();
    expect(ctx.snapshot).toEqual(snapshot);
    expect(ctx.incomingSnapshot).toBeUndefined();
    expect([ctx.log.snapshotIndex, ctx.log.lastIndex, ctx.commitIndex, ctx.lastApplied]).toEqual([3, 3, 3, 3]);
  });

  it('a log that holds the snapshot’s last entry keeps its suffix, and the configuration entries in it stay in force', () => {
    const n = followerWithConfigEntries();
    n.actor.send(chunk({ lastIncludedIndex: 3, lastIncludedTerm: 1, data: 'S3' }));
    expect(ofType(n.effects, 'persist')).toEqual([{ type: 'persist', hardState: { currentTerm: 1, votedFor: null }, snapshot: { index: 3, term: 1, data: 'S3' }, entries: [] }]);
    const ctx = n.context();
    expect([ctx.log.snapshotIndex, ctx.log.lastIndex, ctx.commitIndex, ctx.lastApplied]).toEqual([3, 5, 3, 3]);
    // Without a configuration header, the snapshot carries the one in force at its index (cfgB, set at 3); cfgC at 4 stays.
    expect(ctx.configs).toEqual([
      { index: 3, config: cfgB },
      { index: 4, config: cfgC },
    ]);
    expect(ctx.config).toEqual(cfgC);
    expect(ofType(n.effects, 'configChanged')).toEqual([]);
  });

  it('a snapshot whose text carries a configuration installs that one at its index', () => {
    const n = followerWithConfigEntries();
    n.actor.send(chunk({ lastIncludedIndex: 3, lastIncludedTerm: 1, data: withConfigHeader(cfgX, 'state') }));
    expect(n.context().configs).toEqual([
      { index: 3, config: cfgX },
      { index: 4, config: cfgC },
    ]);
  });

  it('a log that conflicts at the snapshot’s index is discarded: truncated after it, its configuration entries with it', () => {
    const log = [entry(1, 1), entry(2, 1, configCommand(cfgA)), entry(3, 1), entry(4, 1, configCommand(cfgC))];
    const n = node({ persisted: { currentTerm: 2, votedFor: 'n2', log } });
    n.drain();
    const data = withConfigHeader(cfgX, 'state');
    n.actor.send(chunk({ term: 2, lastIncludedIndex: 3, lastIncludedTerm: 2, data }));
    const snapshot = { index: 3, term: 2, data };
    expect(ofType(n.effects, 'persist')).toEqual([{ type: 'persist', hardState: { currentTerm: 2, votedFor: 'n2' }, snapshot, entries: [], truncateFrom: 4 }]);
    expect(ofType(n.effects, 'restore')).toEqual([{ type: 'restore', snapshot }]);
    const ctx = n.context();
    expect([ctx.log.snapshotIndex, ctx.log.lastIndex, ctx.commitIndex, ctx.lastApplied]).toEqual([3, 3, 3, 3]);
    expect(ctx.configs).toEqual([{ index: 3, config: cfgX }]);
    expect(ofType(n.effects, 'configChanged')).toEqual([{ type: 'configChanged', config: cfgX, index: 3 }]);
  });

  it('a log shorter than the snapshot is replaced without a truncation, and the configuration in force at its end is carried', () => {
    const log = [entry(1, 1), entry(2, 1, configCommand(cfgA))];
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log } });
    n.drain();
    n.actor.send(chunk({ lastIncludedIndex: 6, lastIncludedTerm: 1, data: 'S6' }));
    expect(ofType(n.effects, 'persist')).toEqual([{ type: 'persist', hardState: { currentTerm: 1, votedFor: null }, snapshot: { index: 6, term: 1, data: 'S6' }, entries: [] }]);
    expect(n.context().configs).toEqual([{ index: 6, config: cfgA }]);
    expect([n.context().log.lastIndex, n.context().commitIndex]).toEqual([6, 6]);
  });

  it('a stale InstallSnapshot is refused with our term: offset 0, not installed, naming the request', () => {
    const n = node({ persisted: { currentTerm: 3, votedFor: null, log: [] } });
    n.drain();
    n.actor.send(chunk({ term: 2, lastIncludedIndex: 5, offset: 4, data: 'xy', seq: 9 }));
    expect(n.effects).toEqual([
      {
        type: 'send',
        to: 'n2',
        message: { type: 'rpc.installSnapshotResult', from: 'n1', term: 3, requestTerm: 2, lastIncludedIndex: 5, offset: 0, installed: false, seq: 9 },
      },
    ]);
    expect(n.context().incomingSnapshot).toBeUndefined();
  });
});

describe('log compaction (§7): the host snapshots what it has applied', () => {
  /** A follower of term 2 with five entries (the third of term 2), three of them applied. */
  function followerWithApplied() {
    const log = [entry(1, 1), entry(2, 1, configCommand(cfgA)), entry(3, 2), entry(4, 2, configCommand(cfgB)), entry(5, 2)];
    const n = node({ persisted: { currentTerm: 2, votedFor: null, log } });
    n.actor.send({ type: 'rpc.appendEntries', from: 'n2', term: 2, leaderId: 'n2', prevLogIndex: 5, prevLogTerm: 2, entries: [], leaderCommit: 3, seq: 0 });
    expect(n.context().lastApplied).toBe(3);
    n.drain();
    return n;
  }

  it('a snapshot up to the last applied entry compacts the log and is persisted with the term of its last entry', () => {
    const n = followerWithApplied();
    n.actor.send({ type: 'snapshot.taken', index: 3, data: 'S3' });
    const snapshot = { index: 3, term: 2, data: 'S3' };
    expect(n.effects).toEqual([{ type: 'persist', hardState: { currentTerm: 2, votedFor: null }, snapshot, entries: [] }]);
    const ctx = n.context();
    expect(ctx.snapshot).toEqual(snapshot);
    expect([ctx.log.snapshotIndex, ctx.log.lastIndex, ctx.commitIndex, ctx.lastApplied]).toEqual([3, 5, 3, 3]);
    expect(ctx.configs).toEqual([
      { index: 2, config: cfgA },
      { index: 4, config: cfgB },
    ]);
  });

  it('a snapshot past the last applied entry is ignored, even though the log holds that entry', () => {
    const n = followerWithApplied();
    n.actor.send({ type: 'snapshot.taken', index: 4, data: 'S4' });
    expect(n.effects).toEqual([]);
    expect(n.context().log.snapshotIndex).toBe(0);
    expect(n.context().snapshot).toBeUndefined();
    expect(n.status()).toBe('active');
  });

  it('a snapshot no newer than the one held is ignored (at or below its index)', () => {
    const n = followerWithApplied();
    n.actor.send({ type: 'snapshot.taken', index: 0, data: 'S0' });
    expect(n.effects).toEqual([]);
    n.actor.send({ type: 'snapshot.taken', index: 2, data: 'S2' });
    n.drain();
    n.actor.send({ type: 'snapshot.taken', index: 2, data: 'S2 again' });
    n.actor.send({ type: 'snapshot.taken', index: 1, data: 'S1' });
    expect(n.effects).toEqual([]);
    expect(n.context().snapshot).toEqual({ index: 2, term: 1, data: 'S2' });
    // A later applied index is still taken.
    n.actor.send({ type: 'snapshot.taken', index: 3, data: 'S3' });
    expect(ofType(n.effects, 'persist').map((p) => p.snapshot)).toEqual([{ index: 3, term: 2, data: 'S3' }]);
    expect(n.context().configs[0]).toEqual({ index: 2, config: cfgA });
  });

  it('a node that has applied nothing takes no snapshot', () => {
    const n = node();
    n.drain();
    n.actor.send({ type: 'snapshot.taken', index: 0, data: '' });
    expect(n.effects).toEqual([]);
    expect(n.context().configs).toEqual([{ index: 0, config: bootstrap }]);
  });
});
