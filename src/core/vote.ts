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

/**
 * Pre-vote receiver (Raft thesis §9.6): would we vote for this candidate in the term it names?
 * Only if that term is above ours, its log is at least as up to date, and we have not heard from a
 * leader within the last election timeout (a live leader should not be disturbed by a node that
 * was cut off). Nothing changes at the receiver either way.
 */
export function canGrantPreVote(
  voter: Pick<VoterState, 'currentTerm' | 'log'> & { readonly heardFromLeader: boolean },
  request: Pick<RequestVote, 'term' | 'lastLogIndex' | 'lastLogTerm'>,
): boolean {
  return request.term > voter.currentTerm && !voter.heardFromLeader && isLogUpToDate(request.lastLogIndex, request.lastLogTerm, voter.log);
}
