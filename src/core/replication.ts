import { nextIndexAfterConflict, type ConflictHint, type RaftLog } from './log.js';
import type { LogIndex } from './types.js';

/**
 * What the leader knows about one follower's log (Figure 2's nextIndex and matchIndex) and how
 * it sends to it, after etcd/raft's Progress:
 * - `probe`: we do not know where the logs meet; send one AppendEntries at a time and wait for
 *   its answer (or the next heartbeat) before sending another.
 * - `replicate`: the logs meet at matchIndex; send new entries as soon as they exist and advance
 *   nextIndex optimistically (pipelining).
 * - `snapshot`: the follower needs entries the leader has compacted; send the snapshot, one chunk
 *   at a time, resuming from the offset the follower reports.
 */
export interface Progress {
  readonly nextIndex: LogIndex;
  readonly matchIndex: LogIndex;
  readonly mode: 'probe' | 'replicate' | 'snapshot';
  /** In probe mode: an AppendEntries is outstanding; in snapshot mode: a chunk is. */
  readonly probeSent: boolean;
  /** In snapshot mode: which snapshot is being sent, and the offset of the chunk to send next. */
  readonly sending?: LogIndex;
  readonly offset?: number;
  /** In snapshot mode, while a chunk is outstanding: heartbeats since it was sent. */
  readonly unanswered?: number;
}

/**
 * Heartbeats an outstanding snapshot chunk waits for its answer before it is sent again (taken as
 * lost). Meanwhile each heartbeat sends an empty AppendEntries, which keeps the follower's
 * election timer quiet. Resending the chunk on every heartbeat instead queued copy after copy of a
 * 1 MiB chunk behind the first on a link slower than a chunk per heartbeat: a 50 MB transfer over
 * HTTP never finished and the leader's send queue grew to gigabytes.
 */
export const SNAPSHOT_RESEND_HEARTBEATS = 4;

/** What to send a follower that is being sent a snapshot: its next chunk, or an empty heartbeat while one is outstanding. */
export type SnapshotSend =
  | { readonly kind: 'chunk'; readonly offset: number; readonly data: string; readonly done: boolean; readonly progress: Progress }
  | { readonly kind: 'keepalive'; readonly progress: Progress };

/** A new leader's view of every follower: nextIndex = last + 1, matchIndex = 0 (Figure 2). */
export function initialProgress(lastIndex: LogIndex): Progress {
  return { nextIndex: lastIndex + 1, matchIndex: 0, mode: 'probe', probeSent: false };
}

/** A successful AppendEntries reply: the follower matches up to `matchIndex`. */
export function progressAfterSuccess(p: Progress, matchIndex: LogIndex): Progress {
  const match = Math.max(p.matchIndex, matchIndex);
  return { nextIndex: Math.max(p.nextIndex, match + 1), matchIndex: match, mode: 'replicate', probeSent: false };
}

/**
 * An InstallSnapshot reply: installed (the follower holds everything up to that index: replicate
 * after it), or how far it got with the snapshot being sent (resume there), or about a snapshot
 * we no longer send (start the current one again from 0).
 */
export function progressAfterSnapshotReply(
  p: Progress,
  reply: { readonly lastIncludedIndex: LogIndex; readonly offset: number; readonly installed: boolean },
  snapshotIndex: LogIndex,
): Progress {
  if (reply.installed) return progressAfterSuccess(p, reply.lastIncludedIndex);
  if (p.mode !== 'snapshot') return p; // a late reply to a transfer that is over
  const offset = reply.lastIncludedIndex === snapshotIndex && p.sending === snapshotIndex ? reply.offset : 0;
  return { nextIndex: p.nextIndex, matchIndex: p.matchIndex, mode: 'snapshot', probeSent: false, sending: snapshotIndex, offset };
}

/**
 * The next chunk of the snapshot for a follower that needs compacted entries; while one is
 * outstanding, nothing — or on a heartbeat a keepalive, and after SNAPSHOT_RESEND_HEARTBEATS
 * unanswered heartbeats the chunk again (a lost chunk must not stall the transfer).
 */
export function nextSnapshotChunk(p: Progress, snapshot: { readonly index: LogIndex; readonly data: string }, chunkSize: number, heartbeat: boolean): SnapshotSend | undefined {
  // Stryker disable next-line ConditionalExpression: only snapshot mode sets `sending` (every other Progress is built without it)
  const resuming = p.mode === 'snapshot' && p.sending === snapshot.index;
  if (resuming && p.probeSent) {
    if (!heartbeat) return undefined;
    const unanswered = (p.unanswered ?? 0) + 1;
    if (unanswered < SNAPSHOT_RESEND_HEARTBEATS) return { kind: 'keepalive', progress: { ...p, unanswered } };
  }
  const offset = resuming ? Math.min(p.offset ?? 0, snapshot.data.length) : 0;
  const data = snapshot.data.slice(offset, offset + Math.max(1, chunkSize));
  return {
    kind: 'chunk',
    offset,
    data,
    done: offset + data.length >= snapshot.data.length,
    progress: { nextIndex: p.nextIndex, matchIndex: p.matchIndex, mode: 'snapshot', probeSent: true, sending: snapshot.index, offset },
  };
}

/**
 * A rejected AppendEntries whose prevLogIndex was `rejectedIndex`. Stale rejections (for an
 * index already known to match, or in probe mode for a probe we no longer wait on) change
 * nothing. Otherwise move nextIndex back using the conflict hint — a whole term per round trip —
 * but never below matchIndex + 1 and always below the rejected index, so probing makes progress.
 */
export function progressAfterRejection(p: Progress, rejectedIndex: LogIndex, hint: ConflictHint, log: RaftLog<unknown>): Progress {
  if (rejectedIndex <= p.matchIndex) return p;
  if (p.mode === 'snapshot') return p; // an AppendEntries answer from before the transfer began
  if (p.mode === 'probe' && rejectedIndex !== p.nextIndex - 1) return p;
  const guess = Math.min(nextIndexAfterConflict(log, hint), rejectedIndex);
  return { nextIndex: Math.max(guess, p.matchIndex + 1), matchIndex: p.matchIndex, mode: 'probe', probeSent: false };
}

/**
 * Which entries to send now, if any. `heartbeat` forces a message (possibly empty) even when
 * nothing new is there or a probe is outstanding. Returns undefined when nothing should be sent.
 */
export function nextAppend(p: Progress, lastIndex: LogIndex, maxEntries: number, heartbeat: boolean): { from: LogIndex; to: LogIndex; progress: Progress } | undefined {
  const hasNew = p.nextIndex <= lastIndex;
  if (p.mode === 'probe') {
    if (p.probeSent && !heartbeat) return undefined;
    const to = Math.min(lastIndex, p.nextIndex + maxEntries - 1);
    return { from: p.nextIndex, to, progress: { ...p, probeSent: true } };
  }
  if (!hasNew && !heartbeat) return undefined;
  // With nothing new (nextIndex = lastIndex + 1) this is the empty heartbeat at nextIndex.
  const to = Math.min(lastIndex, p.nextIndex + maxEntries - 1);
  return { from: p.nextIndex, to, progress: { ...p, nextIndex: to + 1 } };
}
