import { quorumIndex } from './quorum.js';
import type { LogIndex, NodeId } from './types.js';

/**
 * Linearizable reads by ReadIndex (Raft thesis §6.4). The leader records its commitIndex as the
 * read's index, then confirms it is still leader by a round of heartbeats numbered `seq`; once a
 * majority (itself included) has answered a message of round ≥ seq in the leader's term, no other
 * leader can have committed anything newer, and the read may be served once lastApplied ≥ index.
 * One round serves every read that joined before it was sent.
 */
export interface PendingRead {
  readonly requestIds: readonly string[];
  /** commitIndex when the read was admitted. */
  readonly index: LogIndex;
  /** The confirmation round; 0 while the leader has not yet committed an entry of its term. */
  readonly seq: number;
}

/**
 * The highest confirmation round answered by a majority of voters. The leader counts itself at
 * `ownSeq` (its current round) — unless it is not a voter (it is removing itself): then undefined.
 */
export function confirmedRound(ackedSeq: Readonly<Record<NodeId, number>>, peers: readonly NodeId[], ownSeq: number | undefined): number {
  return quorumIndex([...(ownSeq !== undefined ? [ownSeq] : []), ...peers.map((peer) => ackedSeq[peer] ?? 0)]);
}

/** Split pending reads into those a confirmed round covers and those still waiting. */
export function partitionReadyReads(reads: readonly PendingRead[], confirmed: number): [ready: PendingRead[], waiting: PendingRead[]] {
  const ready: PendingRead[] = [];
  const waiting: PendingRead[] = [];
  for (const read of reads) (read.seq > 0 && read.seq <= confirmed ? ready : waiting).push(read);
  return [ready, waiting];
}
