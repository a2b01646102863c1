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
 */
import type { RaftContext, RaftEffect } from '../../machines/raft-node.js';
import { isMajority } from '../core/quorum.js';
import type { LogEntry, LogIndex, NodeId, Role, Term } from '../core/types.js';

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
  'id' | 'peers' | 'currentTerm' | 'votedFor' | 'log' | 'commitIndex' | 'lastApplied' | 'leaderId' | 'matchIndex'
> & { readonly role?: Role };

type Effects = readonly RaftEffect<unknown>[];
type Persist = Extract<RaftEffect<unknown>, { type: 'persist' }>;

export const RULES = {
  termNeverDecreases: 'term never decreases',
  atMostOneVotePerTerm: 'at most one vote per term',
  grantedVotesAreDurable: 'a granted vote is persisted before the reply leaves',
  hardStateChangesArePersisted: 'currentTerm and votedFor changes are persisted in the same step',
  logChangesArePersisted: 'log changes are persisted in the same step',
  leaderNeverOverwritesItsEntries: 'a leader never overwrites or deletes its own entries',
  truncateOnlyOnConflict: 'entries are truncated only on a real conflict',
  commitIndexNeverDecreases: 'commitIndex never decreases',
  leaderCommitsOnlyCurrentTermEntries: 'a leader commits only current-term entries held by a majority',
  appliesOnceInIndexOrder: 'applied entries are applied once, in index order, never beyond commitIndex',
  logIsWellFormed: 'the log is 1-based and contiguous, with non-decreasing terms no greater than currentTerm',
  messagesCarryCurrentTerm: 'every message sent carries the sender’s current term',
  readsServedAtCommittedIndex: 'a read is served only by a leader that has committed in its term, at a committed index',
  proposalsAcceptedOnlyByLeader: 'a proposal is accepted only by the leader, as entries of its term',
  noReportedViolation: 'the machine reported no invariant violation',
} as const;

function violation(rule: keyof typeof RULES, detail: string): Violation {
  return { rule: RULES[rule], detail };
}

function isLeader(view: NodeView): boolean {
  return view.role !== undefined ? view.role === 'leader' : view.leaderId === view.id;
}

function persists(effects: Effects): Persist[] {
  return effects.filter((e): e is Persist => e.type === 'persist');
}

function sameEntry(a: LogEntry<unknown> | undefined, b: LogEntry<unknown> | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.index === b.index && a.term === b.term && JSON.stringify(a.command) === JSON.stringify(b.command);
}

// ---------------------------------------------------------------- terms and votes

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

// ---------------------------------------------------------------- the log

/** The log as storage holds it after this step's persists, replayed over the log before the step. */
class PersistedLog {
  /** How many entries of the log before the step are still held. */
  private kept: number;
  private tail: LogEntry<unknown>[] = [];

  constructor(private readonly before: NodeView['log']) {
    this.kept = before.lastIndex;
  }

  get lastIndex(): LogIndex {
    return this.kept + this.tail.length;
  }

  entry(index: LogIndex): LogEntry<unknown> | undefined {
    if (index < 1 || index > this.lastIndex) return undefined;
    return index <= this.kept ? this.before.entry(index) : this.tail[index - this.kept - 1];
  }

  truncateFrom(index: LogIndex): void {
    if (index - 1 <= this.kept) {
      this.kept = Math.max(0, Math.min(this.kept, index - 1));
      this.tail = [];
    } else {
      this.tail.length = Math.min(this.tail.length, index - 1 - this.kept);
    }
  }

  /** Appends; returns the first index that did not continue the log, if any. */
  append(entries: readonly LogEntry<unknown>[]): LogIndex | undefined {
    for (const entry of entries) {
      if (entry.index !== this.lastIndex + 1) return entry.index;
      this.tail.push(entry);
    }
    return undefined;
  }
}

/**
 * Replaying this step's persists over the log before the step gives exactly the log after it:
 * nothing reaches the log without reaching storage, and storage is never told something the log
 * does not hold.
 */
export function logChangesArePersisted(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const writes = persists(effects);
  if (writes.length === 0 && next.log === prev.log) return [];
  const stored = new PersistedLog(prev.log);
  for (const p of writes) {
    if (p.truncateFrom !== undefined) stored.truncateFrom(p.truncateFrom);
    const gap = stored.append(p.entries);
    if (gap !== undefined) {
      return [violation('logChangesArePersisted', `persist appends index ${gap} after index ${stored.lastIndex}`)];
    }
  }
  if (stored.lastIndex !== next.log.lastIndex) {
    return [violation('logChangesArePersisted', `log ends at ${next.log.lastIndex} but storage would end at ${stored.lastIndex}`)];
  }
  for (let index = next.log.lastIndex; index >= 1; index--) {
    if (!sameEntry(stored.entry(index), next.log.entry(index))) {
      return [
        violation('logChangesArePersisted', `index ${index}: log holds term ${next.log.termAt(index)}, storage term ${stored.entry(index)?.term}`),
      ];
    }
  }
  return [];
}

/** While it leads in one term, a leader's log only grows, its old prefix unchanged, by entries of its term. */
export function leaderNeverOverwritesItsEntries(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  if (!isLeader(prev) || next.currentTerm !== prev.currentTerm) return [];
  const found: Violation[] = [];
  for (const p of persists(effects)) {
    if (p.truncateFrom !== undefined) found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm} persisted a truncation from ${p.truncateFrom}`));
  }
  if (next.log.lastIndex < prev.log.lastIndex) {
    found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm}: log shrank from ${prev.log.lastIndex} to ${next.log.lastIndex}`));
    return found;
  }
  for (let index = 1; index <= prev.log.lastIndex; index++) {
    if (!sameEntry(prev.log.entry(index), next.log.entry(index))) {
      found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm} changed its entry at ${index}`));
      return found;
    }
  }
  for (let index = prev.log.lastIndex + 1; index <= next.log.lastIndex; index++) {
    const term = next.log.termAt(index);
    if (term !== prev.currentTerm) {
      found.push(violation('leaderNeverOverwritesItsEntries', `leader of term ${prev.currentTerm} appended an entry of term ${term} at ${index}`));
    }
  }
  return found;
}

/**
 * A persist that truncates from index k does so because the entry it writes at k has a different
 * term from the one held there (AppendEntries receiver rule 3) — never to shorten the log on a
 * duplicate or stale request, never beyond the end, and never at or below commitIndex.
 */
export function truncateOnlyOnConflict(prev: NodeView, _next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  // Each persist is judged against the log as the persists before it in this step left it.
  const stored = new PersistedLog(prev.log);
  for (const p of persists(effects)) {
    const from = p.truncateFrom;
    if (from !== undefined) {
      const held = stored.entry(from)?.term;
      const written = p.entries[0];
      if (from <= prev.commitIndex) {
        found.push(violation('truncateOnlyOnConflict', `truncates committed entries from ${from} (commitIndex ${prev.commitIndex})`));
      }
      if (held === undefined) {
        found.push(violation('truncateOnlyOnConflict', `truncates from ${from}, where the log (last index ${stored.lastIndex}) holds nothing`));
      } else if (written === undefined || written.index !== from) {
        found.push(violation('truncateOnlyOnConflict', `truncates from ${from} without writing a replacement entry there`));
      } else if (written.term === held) {
        found.push(violation('truncateOnlyOnConflict', `truncates from ${from} although the new entry there has the same term ${held}`));
      }
      stored.truncateFrom(from);
    }
    stored.append(p.entries);
  }
  return found;
}

/** The lowest index this step's persists write or cut, or just past the old end if they do neither. */
export function firstIndexWritten(prev: NodeView, effects: Effects): LogIndex {
  let first = prev.log.lastIndex + 1;
  for (const p of persists(effects)) first = Math.min(first, p.truncateFrom ?? Infinity, p.entries[0]?.index ?? Infinity);
  return first;
}

/**
 * Entries are numbered 1, 2, 3, … (index 0 / term 0 is the sentinel), terms never decrease along
 * the log and none is above currentTerm; commitIndex lies within the log. Checked from `from` on:
 * the entries below it are unchanged (logChangesArePersisted) and were checked in earlier steps,
 * and currentTerm only grows.
 */
export function logIsWellFormed(next: NodeView, from: LogIndex = 1): Violation[] {
  const { log, currentTerm } = next;
  if (log.termAt(0) !== 0) return [violation('logIsWellFormed', `the sentinel index 0 has term ${log.termAt(0)}, not 0`)];
  const start = Math.max(1, from);
  let previousTerm: Term = log.termAt(start - 1) ?? 0;
  for (let index = start; index <= log.lastIndex; index++) {
    const entry = log.entry(index);
    if (entry === undefined || entry.index !== index) {
      return [violation('logIsWellFormed', `position ${index} holds index ${entry?.index}`)];
    }
    if (entry.term < 1 || entry.term < previousTerm || entry.term > currentTerm) {
      return [violation('logIsWellFormed', `index ${index} has term ${entry.term} (previous ${previousTerm}, currentTerm ${currentTerm})`)];
    }
    previousTerm = entry.term;
  }
  if (next.commitIndex > log.lastIndex) {
    return [violation('logIsWellFormed', `commitIndex ${next.commitIndex} is beyond the last index ${log.lastIndex}`)];
  }
  return [];
}

// ---------------------------------------------------------------- commit and apply

export function commitIndexNeverDecreases(prev: NodeView, next: NodeView): Violation[] {
  return next.commitIndex < prev.commitIndex
    ? [violation('commitIndexNeverDecreases', `commitIndex went from ${prev.commitIndex} to ${next.commitIndex}`)]
    : [];
}

/**
 * Leaders (Figure 2, §5.4.2): commitIndex moves to N only if log[N].term == currentTerm and a
 * majority — the leader counted once, by its own log — has matchIndex ≥ N.
 */
export function leaderCommitsOnlyCurrentTermEntries(prev: NodeView, next: NodeView): Violation[] {
  if (!isLeader(next) || next.commitIndex <= prev.commitIndex) return [];
  const n = next.commitIndex;
  const found: Violation[] = [];
  const term = next.log.termAt(n);
  if (term !== next.currentTerm) {
    found.push(violation('leaderCommitsOnlyCurrentTermEntries', `leader of term ${next.currentTerm} committed index ${n} of term ${term}`));
  }
  const holders = (next.log.lastIndex >= n ? 1 : 0) + next.peers.filter((peer) => (next.matchIndex[peer] ?? 0) >= n).length;
  if (!isMajority(holders, next.peers.length + 1)) {
    found.push(violation('leaderCommitsOnlyCurrentTermEntries', `leader committed index ${n} held by only ${holders} of ${next.peers.length + 1} voters`));
  }
  return found;
}

/** The entries of this step's apply effects, in emission order. */
export function appliedEntries(effects: Effects): LogEntry<unknown>[] {
  return effects.flatMap((e) => (e.type === 'apply' ? [...e.entries] : []));
}

/**
 * This step applies exactly lastApplied+1 .. lastApplied' in index order, each entry as the log
 * holds it, and nothing beyond commitIndex.
 */
export function appliesOnceInIndexOrder(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const applied = appliedEntries(effects);
  let expected = prev.lastApplied + 1;
  for (const entry of applied) {
    if (entry.index !== expected) {
      return [violation('appliesOnceInIndexOrder', `applied index ${entry.index}, expected ${expected} (lastApplied was ${prev.lastApplied})`)];
    }
    if (entry.index > next.commitIndex) {
      return [violation('appliesOnceInIndexOrder', `applied index ${entry.index} beyond commitIndex ${next.commitIndex}`)];
    }
    if (next.log.termAt(entry.index) !== entry.term) {
      return [violation('appliesOnceInIndexOrder', `applied index ${entry.index} of term ${entry.term}, the log holds term ${next.log.termAt(entry.index)}`)];
    }
    expected++;
  }
  if (next.lastApplied !== expected - 1) {
    return [violation('appliesOnceInIndexOrder', `lastApplied became ${next.lastApplied} but entries up to ${expected - 1} were applied`)];
  }
  if (next.lastApplied > next.commitIndex) {
    return [violation('appliesOnceInIndexOrder', `lastApplied ${next.lastApplied} is beyond commitIndex ${next.commitIndex}`)];
  }
  return [];
}

/**
 * The stream of applied entries across steps: each index once, in order, with no gap. After a
 * restart the node applies again from 1 (call `restart()`); whatever it applies at an index must
 * be the entry it applied there before (State Machine Safety, seen from one node).
 */
export class AppliedIndexTracker {
  private last: LogIndex = 0;
  private readonly terms = new Map<LogIndex, Term>();

  get lastApplied(): LogIndex {
    return this.last;
  }

  /** Where the node restarts applying from (its snapshot index; 0 without snapshots). */
  restart(from: LogIndex = 0): void {
    this.last = from;
  }

  record(entries: readonly LogEntry<unknown>[]): Violation[] {
    const found: Violation[] = [];
    for (const entry of entries) {
      if (entry.index !== this.last + 1) {
        const what = entry.index <= this.last ? 'again' : `after ${this.last}, leaving a gap`;
        found.push(violation('appliesOnceInIndexOrder', `applied index ${entry.index} ${what}`));
      }
      const earlier = this.terms.get(entry.index);
      if (earlier !== undefined && earlier !== entry.term) {
        found.push(violation('appliesOnceInIndexOrder', `index ${entry.index} was applied with term ${earlier}, now with term ${entry.term}`));
      }
      this.terms.set(entry.index, entry.term);
      this.last = Math.max(this.last, entry.index);
    }
    return found;
  }
}

// ---------------------------------------------------------------- what leaves the node

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

/** ReadIndex (thesis §6.4): only a leader that has committed an entry of its term answers reads, at a committed index. */
export function readsServedAtCommittedIndex(_prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  for (const e of effects) {
    if (e.type !== 'readReady') continue;
    if (!isLeader(next)) found.push(violation('readsServedAtCommittedIndex', `reads ${e.requestIds.join(',')} served by a node that is not leader`));
    if (e.index > next.commitIndex) found.push(violation('readsServedAtCommittedIndex', `read index ${e.index} is beyond commitIndex ${next.commitIndex}`));
    if (next.log.termAt(next.commitIndex) !== next.currentTerm) {
      found.push(violation('readsServedAtCommittedIndex', `reads served before the leader committed an entry of term ${next.currentTerm}`));
    }
  }
  return found;
}

export function proposalsAcceptedOnlyByLeader(_prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const found: Violation[] = [];
  for (const e of effects) {
    if (e.type !== 'proposalAccepted') continue;
    if (!isLeader(next)) found.push(violation('proposalsAcceptedOnlyByLeader', 'a node that is not leader accepted a proposal'));
    for (const entry of e.entries) {
      if (entry.term !== next.currentTerm || !sameEntry(next.log.entry(entry.index), entry)) {
        found.push(violation('proposalsAcceptedOnlyByLeader', `accepted entry ${entry.index} of term ${entry.term} is not in the log of term ${next.currentTerm}`));
      }
    }
  }
  return found;
}

/** The machine reports what Raft says cannot happen; any report is a violation somewhere. */
export function noReportedViolation(effects: Effects): Violation[] {
  return effects.flatMap((e) =>
    e.type === 'invariantViolation' ? [violation('noReportedViolation', `${e.rule}: ${e.detail}`)] : [],
  );
}

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
  readonly applied = new AppliedIndexTracker();
  private started = false;

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
      ...commitIndexNeverDecreases(prev, next),
      ...leaderCommitsOnlyCurrentTermEntries(prev, next),
      ...appliesOnceInIndexOrder(prev, next, effects),
      ...this.applied.record(appliedEntries(effects)),
      ...messagesCarryCurrentTerm(prev, next, effects),
      ...readsServedAtCommittedIndex(prev, next, effects),
      ...proposalsAcceptedOnlyByLeader(prev, next, effects),
      ...noReportedViolation(effects),
    ];
  }
}

export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `${v.rule}: ${v.detail}`).join('\n');
}
