/**
 * Inputs that a correct cluster never produces, and the report a correct node makes when it gets
 * one anyway. The tests offer a few such inputs on purpose; for them, the machine's
 * `invariantViolation` report is the expected answer (and is required), and every other rule must
 * still hold. For every other input, any report is a failure.
 */
import type { RaftEvent } from '../../machines/raft-node.js';
import { RULES, type Violation } from '../../src/sim/node-invariants.js';
import { roleOf, type RaftSnapshot } from './raft-model.js';

export const TWO_LEADERS = 'at most one leader per term';
export const COMMITTED_TRUNCATION = 'committed entries are never truncated';
export const MATCH_BEYOND_LOG = 'a follower matches only entries the leader sent';
export const REJECT_BEYOND_LOG = 'a follower rejects only entries the leader sent';

/** The reports the node must make for `event` in state `prev`, because the input itself is impossible. */
export function expectedReports(prev: RaftSnapshot, event: RaftEvent): string[] {
  const c = prev.context;
  if (event.type === 'rpc.appendEntriesResult') {
    // In its own term a leader's log only grows and its rounds only count up: no honest follower
    // answers beyond them.
    if (roleOf(prev) !== 'leader' || event.term !== c.currentTerm) return [];
    const beyond = event.seq > c.readSeq || (event.success ? event.matchIndex : event.rejectedIndex) > c.log.lastIndex;
    return beyond ? [event.success ? MATCH_BEYOND_LOG : REJECT_BEYOND_LOG] : [];
  }
  if (event.type === 'rpc.installSnapshot') return event.term === c.currentTerm && roleOf(prev) === 'leader' ? [TWO_LEADERS] : [];
  if (event.type !== 'rpc.appendEntries') return [];
  if (event.term < c.currentTerm) return [];
  if (event.term === c.currentTerm && roleOf(prev) === 'leader') return [TWO_LEADERS];
  // A follower that already follows another leader of this term hears from a second one.
  if (event.term === c.currentTerm && (roleOf(prev) === 'follower' || roleOf(prev) === 'preCandidate') && c.leaderId !== null && c.leaderId !== event.leaderId) {
    return [TWO_LEADERS, ...truncationReports(prev, event)];
  }
  return truncationReports(prev, event);
}

function truncationReports(prev: RaftSnapshot, event: Extract<RaftEvent, { type: 'rpc.appendEntries' }>): string[] {
  const c = prev.context;
  if (!c.log.matches(event.prevLogIndex, event.prevLogTerm)) return [];
  // The first entry whose term differs from ours is where the node would truncate.
  for (const entry of event.entries) {
    const held = c.log.termAt(entry.index);
    if (held === undefined) break;
    if (held !== entry.term) return entry.index <= c.commitIndex ? [COMMITTED_TRUNCATION] : [];
  }
  return [];
}

/**
 * Splits a step's violations into the expected reports that were made, the expected reports that
 * were missing, and everything else (which must be empty).
 */
export function judgeStep(violations: readonly Violation[], expected: readonly string[]): { unexpected: Violation[]; missing: string[] } {
  const isReportOf = (v: Violation, rule: string) => v.rule === RULES.noReportedViolation && v.detail.startsWith(`${rule}:`);
  const unexpected = violations.filter((v) => !expected.some((rule) => isReportOf(v, rule)));
  const missing = expected.filter((rule) => !violations.some((v) => isReportOf(v, rule)));
  return { unexpected, missing };
}
