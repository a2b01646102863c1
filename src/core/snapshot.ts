/**
 * Snapshots on the follower's side (Raft §7, Figure 13): receiving one in chunks, and reading an
 * AppendEntries that reaches back into what the snapshot covers. Pure functions; the statechart's
 * actions call them.
 */
import type { IncomingSnapshot, Snapshot } from './node.js';
import type { RaftLog } from './log.js';
import type { AppendEntries, InstallSnapshot, LogEntry } from './types.js';

export type ChunkOutcome =
  /** Not the chunk expected next: ask the leader to resume at `offset` (0: start over). */
  | { readonly kind: 'resume'; readonly incoming: IncomingSnapshot | undefined; readonly offset: number }
  /** Taken; more to come. */
  | { readonly kind: 'partial'; readonly incoming: IncomingSnapshot; readonly offset: number }
  /** The last chunk: the whole snapshot. */
  | { readonly kind: 'complete'; readonly snapshot: Snapshot };

/**
 * Figure 13, rules 2–5: the first chunk (offset 0) starts a new transfer and drops any partial
 * one; a chunk continues the transfer only if it is for the same snapshot from the same leader and
 * starts exactly where the received data ends; anything else is answered with the offset we hold.
 */
export function acceptChunk(incoming: IncomingSnapshot | undefined, chunk: InstallSnapshot): ChunkOutcome {
  const same = incoming !== undefined && incoming.leaderId === chunk.leaderId && incoming.index === chunk.lastIncludedIndex && incoming.term === chunk.lastIncludedTerm;
  let next: IncomingSnapshot;
  if (chunk.offset === 0) {
    next = { leaderId: chunk.leaderId, index: chunk.lastIncludedIndex, term: chunk.lastIncludedTerm, chunks: [chunk.data], received: chunk.data.length };
  } else if (same && chunk.offset === incoming.received) {
    next = { ...incoming, chunks: [...incoming.chunks, chunk.data], received: incoming.received + chunk.data.length };
  } else {
    return { kind: 'resume', incoming: same ? incoming : undefined, offset: same ? incoming.received : 0 };
  }
  if (!chunk.done) return { kind: 'partial', incoming: next, offset: next.received };
  return { kind: 'complete', snapshot: { index: next.index, term: next.term, data: next.chunks.join('') } };
}

/**
 * An AppendEntries whose prevLogIndex lies inside our snapshot still matches our log there: the
 * snapshot holds only committed entries, and every leader holds those, identical (Leader
 * Completeness, Log Matching). Such a request is read as starting at the snapshot's last entry;
 * the entries it covers are dropped. Returns undefined when prevLogIndex is not inside it.
 */
export function entriesAfterSnapshot<C>(log: RaftLog<C>, request: AppendEntries<C>): readonly LogEntry<C>[] | undefined {
  if (request.prevLogIndex >= log.snapshotIndex) return undefined;
  return request.entries.filter((entry) => entry.index > log.snapshotIndex);
}
