import { isLogUpToDate, type RaftLog } from './log.js';
import type { NodeId, RequestVote, Term } from './types.js';

export interface VoterState {
  readonly currentTerm: Term;
  readonly votedFor: NodeId | null;
  readonly log: RaftLog<unknown>;
}

/**
 * RequestVote receiver (Figure 2): grant iff the request's term is not stale, we have not
 * already voted for someone else in this term, and the candidate's log is at least as up to date
 * as ours. Voting again for the same candidate in the same term is allowed (a retried request).
 */
export function canGrantVote(voter: VoterState, request: Pick<RequestVote, 'term' | 'candidateId' | 'lastLogIndex' | 'lastLogTerm'>): boolean {
  if (request.term < voter.currentTerm) return false;
  const votedThisTerm = request.term === voter.currentTerm ? voter.votedFor : null;
  if (votedThisTerm !== null && votedThisTerm !== request.candidateId) return false;
  return isLogUpToDate(request.lastLogIndex, request.lastLogTerm, voter.log);
}

/** The votes a candidate holds after one more reply (each voter counted once). */
export function recordVote(votes: readonly NodeId[], from: NodeId, granted: boolean): readonly NodeId[] {
  return granted && !votes.includes(from) ? [...votes, from] : votes;
}
