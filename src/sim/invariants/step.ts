/**
 * What a checked node step is made of, shared by every group of per-node rules: the view of a
 * node the checker reads, the effects of one step, the `Violation` value a broken rule returns and
 * the rule names (`RULES`, in DESIGN.md's words). Re-exported by `../node-invariants.ts`.
 */
import type { RaftContext, RaftEffect } from '../../../machines/raft-node.js';
import type { LogEntry, Role } from '../../core/types.js';

export interface Violation {
  /** The rule, in DESIGN.md's words. */
  readonly rule: string;
  readonly detail: string;
}

/**
 * What the checker reads of a node: its context, and its role when the caller knows it (the
 * machine's state value). Without a role, a node is taken to be leader iff `leaderId === id`,
 * which the machine keeps true exactly while it leads.
 */
export type NodeView = Pick<
  RaftContext,
  'id' | 'peers' | 'replicas' | 'config' | 'configs' | 'votes' | 'transfer' | 'currentTerm' | 'votedFor' | 'log' | 'commitIndex' | 'lastApplied' | 'leaderId' | 'matchIndex'
> &
  Partial<Pick<RaftContext, 'snapshot'>> & { readonly role?: Role };

export type Effects = readonly RaftEffect<unknown>[];
export type Persist = Extract<RaftEffect<unknown>, { type: 'persist' }>;

export const RULES = {
  termNeverDecreases: 'term never decreases',
  atMostOneVotePerTerm: 'at most one vote per term',
  grantedVotesAreDurable: 'a granted vote is persisted before the reply leaves',
  hardStateChangesArePersisted: 'currentTerm and votedFor changes are persisted in the same step',
  logChangesArePersisted: 'log changes are persisted in the same step',
  leaderNeverOverwritesItsEntries: 'a leader never overwrites or deletes its own entries',
  truncateOnlyOnConflict: 'entries are truncated only on a real conflict',
  commitIndexNeverDecreases: 'commitIndex never decreases',
  leaderCommitsOnlyCurrentTermEntries: 'a leader commits only entries of its current term',
  appliesOnceInIndexOrder: 'applied entries are applied once, in index order, never beyond commitIndex',
  logIsWellFormed: 'the log is 1-based and contiguous, with non-decreasing terms no greater than currentTerm',
  snapshotsOnlyMoveForward: 'the log starts right after the snapshot, a snapshot never replaces a newer one, and commitIndex ≥ snapshotIndex',
  messagesCarryCurrentTerm: 'every message sent carries the sender’s current term',
  readsServedAtCommittedIndex: 'a read is served only by a leader that has committed in its term, at a committed index',
  proposalsAcceptedOnlyByLeader: 'a proposal is accepted only by the leader, as entries of its term',
  noReportedViolation: 'the machine reported no invariant violation',
  configChangesWaitForCommit: 'a leader appends a configuration entry only when every configuration entry before it is committed and it has committed an entry of its own term',
  countsOnlyVoters: 'a node counts only voters of its current configuration',
  configInForceIsLastInLog: 'the configuration in force is the last configuration entry in the log, else the base (the snapshot’s or the bootstrap list)',
  onlyVotersCampaign: 'only a voter of its configuration (or of the one before it, while that one is uncommitted) campaigns',
  removedLeaderStepsDown: 'a leader that is not a voter of its committed configuration steps down',
  transferFreezesTheLog: 'a leader appends nothing while it transfers leadership',
} as const;

export function violation(rule: keyof typeof RULES, detail: string): Violation {
  return { rule: RULES[rule], detail };
}

export function isLeader(view: NodeView): boolean {
  return view.role !== undefined ? view.role === 'leader' : view.leaderId === view.id;
}

export function persists(effects: Effects): Persist[] {
  return effects.filter((e): e is Persist => e.type === 'persist');
}

export function sameEntry(a: LogEntry<unknown> | undefined, b: LogEntry<unknown> | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.index === b.index && a.term === b.term && JSON.stringify(a.command) === JSON.stringify(b.command);
}
