/**
 * Per-node invariants (DESIGN.md, "The node machine": rules that every transition keeps).
 *
 * One step of a node is (context before, context after, the effects it emitted in between). The
 * checker looks at nothing else, so the same code serves the model-based tests (one event per
 * step), the property tests and the simulator (one delivered message per step). Each rule is one
 * function named after the rule; a broken rule is reported as a value, never thrown, so a caller
 * can print every broken rule of a step at once and point at the step that broke it.
 *
 * What "persisted" means here: the context before the step is taken to be what storage holds (it
 * is, inductively: a node starts from storage, and every change is persisted in the step that
 * makes it — which `hardStateChangesArePersisted` and `logChangesArePersisted` check).
 *
 * The rules live beside this file, one group per concern: `invariants/votes.ts` (terms and votes),
 * `invariants/log.ts` (the log), `invariants/commit.ts` (commit and apply) and
 * `invariants/messages.ts` (what leaves the node), `invariants/membership.ts` (configurations and
 * who counts), on the shared vocabulary of
 * `invariants/step.ts`. This module re-exports them and holds the checker that runs them all.
 */
import type { NodeId, Term } from '../core/types.js';
import { AppliedIndexTracker, appliesOnceInIndexOrder, commitIndexNeverDecreases, leaderCommitsOnlyCurrentTermEntries } from './invariants/commit.js';
import { firstIndexWritten, leaderNeverOverwritesItsEntries, logChangesArePersisted, logIsWellFormed, snapshotsOnlyMoveForward, truncateOnlyOnConflict } from './invariants/log.js';
import {
  configChangesWaitForCommit,
  configInForceIsLastInLog,
  countsOnlyVoters,
  onlyVotersCampaign,
  removedLeaderStepsDown,
  transferFreezesTheLog,
} from './invariants/membership.js';
import { messagesCarryCurrentTerm, noReportedViolation, proposalsAcceptedOnlyByLeader, readsServedAtCommittedIndex } from './invariants/messages.js';
import type { Effects, NodeView, Violation } from './invariants/step.js';
import { atMostOneVotePerTerm, grantedVotesAreDurable, hardStateChangesArePersisted, termNeverDecreases } from './invariants/votes.js';

export { RULES, type NodeView, type Violation } from './invariants/step.js';
export { atMostOneVotePerTerm, grantedVotesAreDurable, hardStateChangesArePersisted, termNeverDecreases } from './invariants/votes.js';
export { firstIndexWritten, leaderNeverOverwritesItsEntries, logChangesArePersisted, logIsWellFormed, snapshotsOnlyMoveForward, truncateOnlyOnConflict } from './invariants/log.js';
export { appliedEntries, AppliedIndexTracker, appliesOnceInIndexOrder, commitIndexNeverDecreases, leaderCommitsOnlyCurrentTermEntries } from './invariants/commit.js';
export { messagesCarryCurrentTerm, noReportedViolation, proposalsAcceptedOnlyByLeader, readsServedAtCommittedIndex } from './invariants/messages.js';
export {
  configChangesWaitForCommit,
  configInForceIsLastInLog,
  countsOnlyVoters,
  onlyVotersCampaign,
  removedLeaderStepsDown,
  transferFreezesTheLog,
} from './invariants/membership.js';

// ---------------------------------------------------------------- the checker

/**
 * Checks one node step by step. Keep one per node for its whole life, restarts included (call
 * `restarted()` when the node restarts from storage): it remembers the highest term the node
 * reached, the votes it cast and the entries it applied. For the first step after a node starts, pass its initial context as both
 * `prev` and `next`, with the effects of starting it.
 */
export class NodeInvariantChecker {
  /** Every vote the node cast, by term. */
  private readonly votes = new Map<Term, NodeId>();
  /** The highest term the node reached, so a restart that loses the term is caught. */
  private highestTerm: Term = 0;
  private started = false;

  constructor(readonly applied: AppliedIndexTracker = new AppliedIndexTracker()) {}

  /** An independent copy, remembering what this one remembers (an explorer checks each branch of a schedule with its own). */
  clone(): NodeInvariantChecker {
    const copy = new NodeInvariantChecker(this.applied.clone());
    for (const [term, candidate] of this.votes) copy.votes.set(term, candidate);
    copy.highestTerm = this.highestTerm;
    copy.started = this.started;
    return copy;
  }

  /** The node restarted from storage: its next step is checked like a first one (whole log, applies from its lastApplied). */
  restarted(): void {
    this.started = false;
  }

  check(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
    // The first step checks the whole log; later steps only what they wrote. A checker attached
    // to a running node starts tracking applies where the node stands.
    const firstWritten = this.started ? firstIndexWritten(prev, effects) : 1;
    if (!this.started) this.applied.restart(prev.lastApplied);
    this.started = true;
    const highest = this.highestTerm;
    this.highestTerm = Math.max(highest, prev.currentTerm, next.currentTerm);
    return [
      ...termNeverDecreases(prev, next, highest),
      ...atMostOneVotePerTerm(prev, next, effects, this.votes),
      ...grantedVotesAreDurable(prev, next, effects),
      ...hardStateChangesArePersisted(prev, next, effects),
      ...logChangesArePersisted(prev, next, effects),
      ...leaderNeverOverwritesItsEntries(prev, next, effects),
      ...truncateOnlyOnConflict(prev, next, effects),
      ...logIsWellFormed(next, firstWritten),
      ...snapshotsOnlyMoveForward(prev, next),
      ...commitIndexNeverDecreases(prev, next),
      ...leaderCommitsOnlyCurrentTermEntries(prev, next),
      ...appliesOnceInIndexOrder(prev, next, effects),
      ...this.applied.recordEffects(effects),
      ...messagesCarryCurrentTerm(prev, next, effects),
      ...readsServedAtCommittedIndex(prev, next, effects),
      ...proposalsAcceptedOnlyByLeader(prev, next, effects),
      ...noReportedViolation(effects),
      ...configChangesWaitForCommit(prev, next, effects),
      ...countsOnlyVoters(prev, next),
      ...configInForceIsLastInLog(prev, next, firstWritten),
      ...onlyVotersCampaign(prev, next, effects),
      ...removedLeaderStepsDown(prev, next),
      ...transferFreezesTheLog(prev, next),
    ];
  }
}

export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.rule}: ${v.detail}`).join('\n');
}
