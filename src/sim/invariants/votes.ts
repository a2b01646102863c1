/**
 * Per-node rules on terms and votes: the term never decreases, at most one vote per term, a
 * granted vote is durable before the reply leaves, and hard-state changes are persisted in the
 * step that makes them. Re-exported by `../node-invariants.ts`.
 */
import type { NodeId, Term } from '../../core/types.js';
import { persists, violation, type Effects, type NodeView, type Violation } from './step.js';

/** `highest` is the highest term the node was seen at before this step, restarts included. */
export function termNeverDecreases(prev: NodeView, next: NodeView, highest: Term = prev.currentTerm): Violation[] {
  const before = Math.max(prev.currentTerm, highest);
  return next.currentTerm < before ? [violation('termNeverDecreases', `currentTerm went from ${before} to ${next.currentTerm}`)] : [];
}

/** The votes a node casts in one step: its votedFor after the step, and every vote it granted in a reply. */
function votesCast(next: NodeView, effects: Effects): { term: Term; candidate: NodeId; how: string }[] {
  const votes: { term: Term; candidate: NodeId; how: string }[] = [];
  if (next.votedFor !== null) votes.push({ term: next.currentTerm, candidate: next.votedFor, how: 'votedFor' });
  for (const e of effects) {
    // A granted pre-vote is not a vote: it records nothing and binds the voter to nothing.
    if (e.type === 'send' && e.message.type === 'rpc.requestVoteResult' && e.message.voteGranted && e.message.preVote !== true) {
      votes.push({ term: e.message.term, candidate: e.to, how: `granted in a reply to ${e.to}` });
    }
  }
  return votes;
}

/**
 * At most one vote per term. `ledger` holds every vote this node is known to have cast, by term,
 * and outlives restarts, so a vote lost by storage shows up as a second vote in the same term.
 */
export function atMostOneVotePerTerm(prev: NodeView, next: NodeView, effects: Effects, ledger: Map<Term, NodeId>): Violation[] {
  const found: Violation[] = [];
  if (prev.votedFor !== null && !ledger.has(prev.currentTerm)) ledger.set(prev.currentTerm, prev.votedFor);
  if (next.currentTerm === prev.currentTerm && prev.votedFor !== null && next.votedFor === null) {
    found.push(violation('atMostOneVotePerTerm', `votedFor ${prev.votedFor} was forgotten within term ${prev.currentTerm}, so a second vote becomes possible`));
  }
  for (const vote of votesCast(next, effects)) {
    const earlier = ledger.get(vote.term);
    if (earlier !== undefined && earlier !== vote.candidate) {
      found.push(violation('atMostOneVotePerTerm', `term ${vote.term}: voted for ${earlier}, then for ${vote.candidate} (${vote.how})`));
    } else {
      ledger.set(vote.term, vote.candidate);
    }
  }
  return found;
}

/**
 * A vote granted in a reply of this step is the node's votedFor after the step, and was on disk
 * before the reply could leave: either it already was (same term, same candidate) or a persist of
 * this step records it.
 */
export function grantedVotesAreDurable(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  for (const e of effects) {
    if (e.type !== 'send' || e.message.type !== 'rpc.requestVoteResult' || !e.message.voteGranted) continue;
    if (e.message.preVote === true) continue; // a pre-vote promises nothing and is not recorded
    const { term } = e.message;
    const candidate = e.to;
    if (next.currentTerm !== term || next.votedFor !== candidate) {
      found.push(violation('grantedVotesAreDurable', `granted ${candidate} a vote in term ${term}, but after the step votedFor is ${next.votedFor} in term ${next.currentTerm}`));
      continue;
    }
    const alreadyPersisted = prev.currentTerm === term && prev.votedFor === candidate;
    const persisted = persists(effects).some((p) => p.hardState.currentTerm === term && p.hardState.votedFor === candidate);
    if (!alreadyPersisted && !persisted) {
      found.push(violation('grantedVotesAreDurable', `granted ${candidate} a vote in term ${term} without persisting votedFor`));
    }
  }
  return found;
}

/**
 * Storage ends the step holding the hard state the node ends it with: a change is persisted in
 * the step that makes it, and nothing else is written as hard state.
 */
export function hardStateChangesArePersisted(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const last = persists(effects).at(-1);
  const stored = last === undefined ? { currentTerm: prev.currentTerm, votedFor: prev.votedFor } : last.hardState;
  if (stored.currentTerm === next.currentTerm && stored.votedFor === next.votedFor) return [];
  return [
    violation(
      'hardStateChangesArePersisted',
      `the node ends the step at term ${next.currentTerm}, votedFor ${next.votedFor}; storage holds term ${stored.currentTerm}, votedFor ${stored.votedFor}`,
    ),
  ];
}
