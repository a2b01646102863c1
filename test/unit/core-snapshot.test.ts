/**
 * The follower's side of snapshots (Raft §7, Figure 13; src/core/snapshot.ts), rule by rule:
 * receiving one in chunks (acceptChunk) and reading an AppendEntries that reaches back into what
 * the snapshot covers (entriesAfterSnapshot).
 */
import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/core/log.js';
import type { IncomingSnapshot } from '../../src/core/node.js';
import { acceptChunk, entriesAfterSnapshot } from '../../src/core/snapshot.js';
import type { AppendEntries, InstallSnapshot } from '../../src/core/types.js';

function chunk(fields: Partial<InstallSnapshot> = {}): InstallSnapshot {
  return { type: 'rpc.installSnapshot', from: 'n1', term: 2, leaderId: 'n1', lastIncludedIndex: 10, lastIncludedTerm: 2, offset: 0, data: 'abc', done: false, seq: 0, ...fields };
}

const partial: IncomingSnapshot = { leaderId: 'n1', index: 10, term: 2, chunks: ['abc'], received: 3 };

describe('InstallSnapshot chunks (Figure 13, rules 2–5)', () => {
  it('the first chunk (offset 0) starts a transfer: partial, with the offset of the next one', () => {
    expect(acceptChunk(undefined, chunk())).toEqual({ kind: 'partial', incoming: partial, offset: 3 });
  });

  it('a first chunk that is also the last is the whole snapshot', () => {
    expect(acceptChunk(undefined, chunk({ done: true }))).toEqual({ kind: 'complete', snapshot: { index: 10, term: 2, data: 'abc' } });
  });

  it('offset 0 drops a partial transfer, even of the same snapshot, and starts again', () => {
    expect(acceptChunk(partial, chunk({ data: 'xy' }))).toEqual({ kind: 'partial', incoming: { ...partial, chunks: ['xy'], received: 2 }, offset: 2 });
    const other = acceptChunk({ ...partial, leaderId: 'n2', index: 7 }, chunk({ data: 'xy' }));
    expect(other).toEqual({ kind: 'partial', incoming: { leaderId: 'n1', index: 10, term: 2, chunks: ['xy'], received: 2 }, offset: 2 });
  });

  it('a chunk that starts where the received data ends continues the transfer; the last one joins every chunk in order', () => {
    const next = acceptChunk(partial, chunk({ offset: 3, data: 'de' }));
    expect(next).toEqual({ kind: 'partial', incoming: { ...partial, chunks: ['abc', 'de'], received: 5 }, offset: 5 });
    if (next.kind !== 'partial') throw new Error('expected partial');
    expect(acceptChunk(next.incoming, chunk({ offset: 5, data: 'f', done: true }))).toEqual({ kind: 'complete', snapshot: { index: 10, term: 2, data: 'abcdef' } });
  });

  it('a chunk past or before the received end is answered with the offset we hold, keeping what we have', () => {
    expect(acceptChunk(partial, chunk({ offset: 4, data: 'e' }))).toEqual({ kind: 'resume', incoming: partial, offset: 3 });
    expect(acceptChunk(partial, chunk({ offset: 1, data: 'bc' }))).toEqual({ kind: 'resume', incoming: partial, offset: 3 });
  });

  it('a later chunk of another snapshot, or from another leader, or with another term, is refused with offset 0 and drops the partial one', () => {
    for (const other of [{ lastIncludedIndex: 11 }, { leaderId: 'n2', from: 'n2' }, { lastIncludedTerm: 3 }]) {
      expect(acceptChunk(partial, chunk({ offset: 3, ...other }))).toEqual({ kind: 'resume', incoming: undefined, offset: 0 });
    }
  });

  it('a later chunk with nothing received yet asks for offset 0', () => {
    expect(acceptChunk(undefined, chunk({ offset: 3 }))).toEqual({ kind: 'resume', incoming: undefined, offset: 0 });
  });
});

describe('AppendEntries reaching into the snapshot', () => {
  const log = RaftLog.from([{ index: 11, term: 2, command: 'k' }], { index: 10, term: 2 });
  const request = (prevLogIndex: number, indexes: number[]): AppendEntries =>
    ({
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 2,
      leaderId: 'n1',
      prevLogIndex,
      prevLogTerm: 1,
      entries: indexes.map((index) => ({ index, term: 2, command: `c${index}` })),
      leaderCommit: 10,
      seq: 0,
    }) as AppendEntries;

  it('prevLogIndex inside the snapshot: the entries it covers are dropped, the rest kept', () => {
    expect(entriesAfterSnapshot(log, request(8, [9, 10, 11, 12]))?.map((e) => e.index)).toEqual([11, 12]);
    expect(entriesAfterSnapshot(log, request(9, [10]))).toEqual([]);
  });

  it('prevLogIndex at the snapshot or after: not this rule (undefined), the log-matching check applies', () => {
    expect(entriesAfterSnapshot(log, request(10, [11]))).toBeUndefined();
    expect(entriesAfterSnapshot(log, request(11, [12]))).toBeUndefined();
  });
});
