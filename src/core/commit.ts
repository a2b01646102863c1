import type { RaftLog } from './log.js';
import { quorumIndex } from './quorum.js';
import type { LogIndex, Term } from './types.js';

/**
 * Leader commit rule (Figure 2, "Rules for Servers, Leaders", and §5.4.2): commitIndex becomes N
 * when a majority has matchIndex ≥ N *and* log[N].term == currentTerm. Entries of earlier terms
 * are committed only indirectly, by an entry of the current term above them (Figure 8).
 * `matchIndexes` holds every voter's match index, the leader's own last index included.
 * Never returns less than the current commitIndex.
 */
export function leaderCommitIndex(log: RaftLog<unknown>, currentTerm: Term, commitIndex: LogIndex, matchIndexes: readonly LogIndex[]): LogIndex {
  const n = quorumIndex(matchIndexes);
  return isCommittable(log.termAt(n), currentTerm) ? Math.max(n, commitIndex) : commitIndex;
}

/**
 * The second half of the leader commit rule: a leader counts replicas only for an entry of its
 * own term (§5.4.2). An entry of an earlier term on a majority may still be overwritten (Figure 8).
 */
export function isCommittable(entryTerm: Term | undefined, currentTerm: Term): boolean {
  return entryTerm === currentTerm;
}

/**
 * Follower commit rule (Figure 2, AppendEntries receiver rule 5): commitIndex =
 * min(leaderCommit, index of last new entry) — only what this request proved we share with the
 * leader — and it never goes down.
 */
export function followerCommitIndex(commitIndex: LogIndex, leaderCommit: LogIndex, lastNewIndex: LogIndex): LogIndex {
  return Math.max(commitIndex, Math.min(leaderCommit, lastNewIndex));
}
