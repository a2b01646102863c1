/**
 * Per-node rules on membership (thesis chapter 4, single-server changes): a leader appends a
 * configuration entry only once every earlier one is committed and it has committed an entry of
 * its own term (the 2015 bug); a node counts only the voters of the configuration in force; the
 * configuration in force is the last configuration entry of the log, else the base (the
 * snapshot's or the bootstrap list); only a voter campaigns; a leader that removed itself steps
 * down once that commits; and a leader that transfers leadership appends nothing meanwhile. Each rule recomputes what it checks from the log and the
 * step, not through src/core/configuration.ts's history functions, so a bug there shows up here.
 * Re-exported by `../node-invariants.ts`.
 */
import { configOf, isConfigCommand, type Configuration } from '../../core/configuration.js';
import { isMajority } from '../../core/quorum.js';
import type { LogEntry, LogIndex, NodeId, Term } from '../../core/types.js';
import { isLeader, persists, violation, type Effects, type NodeView, type Violation } from './step.js';

/** The same servers, as sets (order does not matter; a server named twice does). Lists are short: no sorting. */
function sameIds(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  const count = (list: readonly NodeId[], id: NodeId) => list.reduce((n, x) => (x === id ? n + 1 : n), 0);
  return a.every((id) => count(a, id) === count(b, id));
}

function sameConfig(a: Configuration, b: Configuration): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

function show(config: Configuration): string {
  return `{voters [${config.voters.join(',')}], learners [${config.learners.join(',')}]}`;
}

/** The term the node leads in this step (before or after it), if it leads. */
function leadTerm(prev: NodeView, next: NodeView): Term | undefined {
  if (isLeader(next)) return next.currentTerm;
  if (isLeader(prev)) return prev.currentTerm;
  return undefined;
}

/**
 * §4.1 and the 2015 single-server-change bug: a leader appends a configuration entry only when
 * every configuration entry before it is committed (never two changes in flight) and it has
 * committed an entry of its own term. The first leader's bootstrap entry — the same members as the
 * configuration in force before it, not a change — is exempt. "Committed" is judged at the end of
 * the step: a held change is appended in the very step that commits the leader's first entry.
 */
export function configChangesWaitForCommit(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  const term = leadTerm(prev, next);
  if (term === undefined) return [];
  const found: Violation[] = [];
  for (const entry of persists(effects).flatMap((p) => p.entries)) {
    if (entry.term !== term || entry.index <= prev.log.lastIndex || !isConfigCommand(entry.command)) continue;
    const before = next.configs.filter((record) => record.index < entry.index);
    const inForceBefore = before.at(-1)?.config ?? prev.config;
    if (sameConfig(configOf(entry.command), inForceBefore)) continue;
    for (const record of before) {
      if (record.index > next.commitIndex) {
        found.push(
          violation(
            'configChangesWaitForCommit',
            `leader of term ${term} appended a configuration change at ${entry.index} while the configuration entry at ${record.index} is not committed (commitIndex ${next.commitIndex})`,
          ),
        );
      }
    }
    const lastCommittedBefore = Math.min(next.commitIndex, entry.index - 1);
    // A lone voter may append, commit and compact in one step: the term may be behind the new snapshot.
    const termThere =
      next.log.termAt(lastCommittedBefore) ??
      prev.log.termAt(lastCommittedBefore) ??
      persists(effects)
        .flatMap((p) => p.entries)
        .find((e) => e.index === lastCommittedBefore)?.term;
    if (termThere !== term) {
      found.push(
        violation(
          'configChangesWaitForCommit',
          `leader of term ${term} appended a configuration change at ${entry.index} before committing an entry of its term (commitIndex ${next.commitIndex}, of term ${next.log.termAt(next.commitIndex)})`,
        ),
      );
    }
  }
  return found;
}

/**
 * A node counts only the voters of the configuration in force: a (pre-)candidate's votes are all
 * from voters; a leader's commitIndex advance is backed by a majority of the voters' matchIndex
 * (itself, by its own log, only if it is a voter; never a learner) — of the configuration in force
 * before or after the step, since a step may commit and then append a change.
 */
export function countsOnlyVoters(prev: NodeView, next: NodeView): Violation[] {
  const found: Violation[] = [];
  if (next.role === 'candidate' || next.role === 'preCandidate') {
    const strangers = next.votes.filter((id) => !next.config.voters.includes(id));
    if (strangers.length > 0) {
      found.push(violation('countsOnlyVoters', `${next.role} counts votes of ${strangers.join(',')}, not voters of ${show(next.config)}`));
    }
  }
  if (!isLeader(next) || next.commitIndex <= prev.commitIndex) return found;
  const n = next.commitIndex;
  const holders = (config: Configuration) => config.voters.filter((voter) => (voter === next.id ? next.log.lastIndex >= n : (next.matchIndex[voter] ?? 0) >= n));
  const backed = (config: Configuration) => isMajority(holders(config).length, config.voters.length);
  if (!backed(next.config) && !backed(prev.config)) {
    found.push(violation('countsOnlyVoters', `leader committed index ${n} held by only [${holders(next.config).join(',')}] of the voters [${next.config.voters.join(',')}]`));
  }
  return found;
}

/**
 * Only a voter campaigns (a learner, a removed or a joining server never does, TimeoutNow or not):
 * a voter of the configuration in force, or — while the last configuration entry is not yet
 * committed here — of the configuration before it, which the leader that appended that entry had
 * committed (thesis §4.2.2: a server that an uncommitted entry removes may hold the log the others
 * need to elect anyone). A step that starts a pre-vote or an election announces the role; the node
 * must be such a voter before or after it.
 */
export function onlyVotersCampaign(prev: NodeView, next: NodeView, effects: Effects): Violation[] {
  if (!effects.some((e) => e.type === 'roleChanged' && (e.role === 'candidate' || e.role === 'preCandidate'))) return [];
  const mayCampaign = (view: NodeView) => {
    const last = view.configs[view.configs.length - 1];
    const before = view.configs[view.configs.length - 2];
    return view.config.voters.includes(view.id) || (last !== undefined && last.index > view.commitIndex && (before?.config.voters.includes(view.id) ?? false));
  };
  if (mayCampaign(prev) || mayCampaign(next)) return [];
  return [violation('onlyVotersCampaign', `${next.id} campaigned in term ${next.currentTerm}, a voter neither of ${show(prev.config)} nor of the configuration before it`)];
}

/**
 * §4.2.2: a leader that is not a voter of its configuration (it removed itself) leads only until
 * that configuration commits — then it steps down (handing over).
 */
export function removedLeaderStepsDown(_prev: NodeView, next: NodeView): Violation[] {
  if (!isLeader(next) || next.config.voters.includes(next.id)) return [];
  const record = next.configs[next.configs.length - 1];
  if (record === undefined || record.index > next.commitIndex) return [];
  return [
    violation(
      'removedLeaderStepsDown',
      `${next.id} still leads term ${next.currentTerm}, though ${show(next.config)} (index ${record.index}) is committed (commitIndex ${next.commitIndex})`,
    ),
  ];
}

/** §3.10: while a leader hands leadership over, it appends nothing (proposals and changes are refused), so the target can catch up. */
export function transferFreezesTheLog(prev: NodeView, next: NodeView): Violation[] {
  if (prev.transfer === undefined || !isLeader(prev) || !isLeader(next) || next.currentTerm !== prev.currentTerm) return [];
  if (next.log.lastIndex === prev.log.lastIndex) return [];
  return [violation('transferFreezesTheLog', `leader of term ${next.currentTerm} appended up to ${next.log.lastIndex} while transferring leadership to ${prev.transfer.to}`)];
}

/** The last configuration entry of the log at or above `from`, scanning down from the end. */
function lastConfigEntry(log: NodeView['log'], from: LogIndex): LogEntry<unknown> | undefined {
  for (let index = log.lastIndex; index >= Math.max(from, log.firstIndex); index--) {
    const entry = log.entry(index);
    if (entry !== undefined && isConfigCommand(entry.command)) return entry;
  }
  return undefined;
}

/**
 * The configuration in force is the last configuration entry in the log, else the base (the
 * configuration the snapshot carries, or the bootstrap list): ctx.config is what the log and
 * ctx.configs[0] say, every later record of ctx.configs is a configuration entry the log holds,
 * and peers and replicas follow from the configuration in force.
 *
 * Cost: the log is scanned from the end down to the record in force; when that record is the one
 * in force before the step too, only the entries this step wrote (from `firstWritten`) are, since
 * the entries below them are the previous step's, already checked. `firstWritten` 1 (a first step)
 * scans the whole log, and then also checks that no configuration entry is missing from the history.
 */
export function configInForceIsLastInLog(prev: NodeView, next: NodeView, firstWritten: LogIndex = 1): Violation[] {
  const { log, configs } = next;
  const sameHistory =
    firstWritten > 1 &&
    configs === prev.configs &&
    next.config === prev.config &&
    next.peers === prev.peers &&
    next.replicas === prev.replicas &&
    log.snapshotIndex === prev.log.snapshotIndex;
  if (sameHistory && log === prev.log) return [];
  const found: Violation[] = [];
  const base = configs[0];
  if (base === undefined) return [violation('configInForceIsLastInLog', 'the node holds no configuration history (not even a base)')];
  const recorded = configs[configs.length - 1] ?? base;
  const before = prev.configs[prev.configs.length - 1];
  // The record in force is the one in force before the step, which was checked then: only the
  // entries this step wrote can hold a newer configuration entry.
  const unchanged = firstWritten > 1 && before !== undefined && before.index === recorded.index && sameConfig(before.config, recorded.config);
  // Nothing after the record in force may be a configuration entry.
  const later = lastConfigEntry(log, unchanged ? Math.max(firstWritten, recorded.index + 1) : recorded.index + 1);
  if (later !== undefined && isConfigCommand(later.command)) {
    found.push(
      violation('configInForceIsLastInLog', `the configuration in force is recorded at ${recorded.index}, but the log holds a later configuration entry at ${later.index}`),
    );
  }
  // Every record after the base is a configuration entry the log holds, as recorded (with the same
  // history as before, only those at or after the entries this step wrote can have stopped being one).
  for (let i = configs.length - 1; i >= 1; i--) {
    const record = configs[i] as (typeof configs)[number];
    if (sameHistory && record.index < firstWritten) break;
    const entry = log.entry(record.index);
    if (record.index <= log.snapshotIndex || entry === undefined || !isConfigCommand(entry.command) || !sameConfig(configOf(entry.command), record.config)) {
      found.push(violation('configInForceIsLastInLog', `the configuration ${show(record.config)} recorded at ${record.index} is not a configuration entry of the log`));
    }
  }
  if (sameHistory) return found;
  if (base.index > log.snapshotIndex) {
    found.push(
      violation('configInForceIsLastInLog', `the base configuration is set at ${base.index}, after the snapshot at ${log.snapshotIndex}: it should be an entry of the log`),
    );
  }
  const expected = later !== undefined && isConfigCommand(later.command) ? { index: later.index, config: configOf(later.command) } : recorded;
  if (!sameConfig(next.config, expected.config)) {
    found.push(violation('configInForceIsLastInLog', `the configuration in force is ${show(next.config)}, the log says ${show(expected.config)} (index ${expected.index})`));
  }
  if (
    !sameIds(
      next.peers,
      next.config.voters.filter((id) => id !== next.id),
    )
  ) {
    found.push(violation('configInForceIsLastInLog', `peers [${next.peers.join(',')}] are not the other voters of ${show(next.config)}`));
  }
  if (
    !sameIds(
      next.replicas,
      [...next.config.voters, ...next.config.learners].filter((id) => id !== next.id),
    )
  ) {
    found.push(violation('configInForceIsLastInLog', `replicas [${next.replicas.join(',')}] are not the other members of ${show(next.config)}`));
  }
  if (!unchanged) {
    // A whole scan: every configuration entry the log holds is in the history.
    const inHistory = new Set(configs.slice(1).map((record) => record.index));
    for (let index = Math.max(log.firstIndex, base.index + 1); index <= log.lastIndex; index++) {
      const entry = log.entry(index);
      if (entry !== undefined && isConfigCommand(entry.command) && !inHistory.has(index)) {
        found.push(violation('configInForceIsLastInLog', `the configuration entry at ${index} is missing from the history`));
      }
    }
  }
  return found;
}
