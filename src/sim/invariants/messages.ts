/**
 * Per-node rules on what leaves the node: messages carry the current term (the fencing token),
 * reads are served only at a committed index by a leader that committed in its term, proposals are
 * accepted only by the leader, and the machine reports no violation of its own.
 * Re-exported by `../node-invariants.ts`.
 */
import { isLeader, sameEntry, violation, type Effects, type NodeView, type Violation } from './step.js';

/**
 * The term is the fencing token: nothing a node sends carries a term other than its current one —
 * except pre-vote, which asks about the next term (request: currentTerm + 1; a grant echoes the
 * term asked about, which must be above ours).
 */
export function messagesCarryCurrentTerm(_prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  for (const e of effects) {
    if (e.type !== 'send') continue;
    const m = e.message;
    if (m.type === 'rpc.requestVote' && m.preVote === true) {
      if (m.term !== next.currentTerm + 1) found.push(violation('messagesCarryCurrentTerm', `asked a pre-vote for term ${m.term} in term ${next.currentTerm}`));
      continue;
    }
    if (m.type === 'rpc.requestVoteResult' && m.preVote === true && m.voteGranted) {
      if (m.term <= next.currentTerm) found.push(violation('messagesCarryCurrentTerm', `granted a pre-vote for term ${m.term} in term ${next.currentTerm}`));
      continue;
    }
    if (m.term !== next.currentTerm) {
      found.push(violation('messagesCarryCurrentTerm', `sent ${e.message.type} of term ${e.message.term} to ${e.to} in term ${next.currentTerm}`));
    }
  }
  return found;
}

/**
 * The node led throughout the step, or until its end: a leader that removed itself hands over in
 * the very step that commits its removal, after serving what that commit made ready (§4.2.2).
 */
function ledDuringStep(prev: NodeView, next: NodeView): boolean {
  return isLeader(next) || (isLeader(prev) && next.currentTerm === prev.currentTerm);
}

/** ReadIndex (thesis §6.4): only a leader that has committed an entry of its term answers reads, at a committed index. */
export function readsServedAtCommittedIndex(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  for (const e of effects) {
    if (e.type !== 'readReady') continue;
    if (!ledDuringStep(prev, next)) found.push(violation('readsServedAtCommittedIndex', `reads ${e.requestIds.join(',')} served by a node that is not leader`));
    if (e.index > next.commitIndex) found.push(violation('readsServedAtCommittedIndex', `read index ${e.index} is beyond commitIndex ${next.commitIndex}`));
    if (next.log.termAt(next.commitIndex) !== next.currentTerm) {
      found.push(violation('readsServedAtCommittedIndex', `reads served before the leader committed an entry of term ${next.currentTerm}`));
    }
  }
  return found;
}

export function proposalsAcceptedOnlyByLeader(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  for (const e of effects) {
    if (e.type !== 'proposalAccepted') continue;
    if (!ledDuringStep(prev, next)) found.push(violation('proposalsAcceptedOnlyByLeader', 'a node that is not leader accepted a proposal'));
    for (const entry of e.entries) {
      // An entry the step also compacted (a lone voter commits, applies and snapshots at once) is checked by its term alone.
      const held = entry.index <= next.log.snapshotIndex ? entry : next.log.entry(entry.index);
      if (entry.term !== next.currentTerm || !sameEntry(held, entry)) {
        found.push(violation('proposalsAcceptedOnlyByLeader', `accepted entry ${entry.index} of term ${entry.term} is not in the log of term ${next.currentTerm}`));
      }
    }
  }
  return found;
}

/** The machine reports what Raft says cannot happen; any report is a violation somewhere. */
export function noReportedViolation(effects: Effects): Violation[] {
  return effects.flatMap((e) => (e.type === 'invariantViolation' ? [violation('noReportedViolation', `${e.rule}: ${e.detail}`)] : []));
}
