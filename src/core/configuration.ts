/**
 * Cluster membership (Raft thesis chapter 4), as single-server changes (§4.1): a configuration
 * entry adds one learner, promotes one learner to voter, or removes one server, and a leader
 * appends one only when every earlier configuration entry is committed and it has committed an
 * entry of its own term (the rule whose absence was the 2015 single-server-change bug). Any two
 * majorities of configurations that differ by one voter overlap, so no joint phase is needed.
 *
 * A configuration takes effect on a node as soon as its entry is appended, and is undone if that
 * entry is truncated: a node keeps the configuration entries its log holds (`ConfigHistory`), the
 * last of which is in force. A snapshot carries the configuration at its index. Pure data and
 * functions: no XState, no I/O.
 */
import type { LogEntry, LogIndex, NodeId } from './types.js';

export interface Configuration {
  readonly voters: readonly NodeId[];
  /** Receive the log and snapshots; never vote, never count toward commit, check-quorum or ReadIndex. */
  readonly learners: readonly NodeId[];
  /** Each member's address, for transports that need one (HTTP: "host:port"). */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/** The command of a configuration entry: the whole configuration, not a delta. */
export interface ConfigCommand extends Configuration {
  readonly type: 'raft.config';
}

export const CONFIG_COMMAND_TYPE = 'raft.config';

export function isConfigCommand(command: unknown): command is ConfigCommand {
  return typeof command === 'object' && command !== null && (command as { type?: unknown }).type === CONFIG_COMMAND_TYPE;
}

/**
 * Raft's own entries (a configuration, a leader's no-op) are appended by Raft's rules only: a
 * client proposal of one is refused, so no client can change the membership behind those rules.
 */
export function isRaftCommand(command: unknown): boolean {
  const type = typeof command === 'object' && command !== null ? (command as { type?: unknown }).type : undefined;
  return type === CONFIG_COMMAND_TYPE || type === 'raft.noop';
}

export function configCommand(config: Configuration): ConfigCommand {
  return { type: CONFIG_COMMAND_TYPE, voters: config.voters, learners: config.learners, ...(config.addresses !== undefined ? { addresses: config.addresses } : {}) };
}

/** A configuration without the entry's `type`. */
export function configOf(command: ConfigCommand): Configuration {
  return { voters: command.voters, learners: command.learners, ...(command.addresses !== undefined ? { addresses: command.addresses } : {}) };
}

/** One server change (§4.1). */
export type ConfigChange =
  | { readonly type: 'addLearner'; readonly id: NodeId; readonly address?: string }
  | { readonly type: 'promote'; readonly id: NodeId }
  | { readonly type: 'removeServer'; readonly id: NodeId };

/**
 * A learner is promoted only once the leader knows where its log meets the leader's and it lags
 * by at most this many entries: a voter that cannot keep up would make every commit wait for it.
 */
export const PROMOTE_MAX_LAG = 1000;

export function isVoter(config: Configuration, id: NodeId): boolean {
  return config.voters.includes(id);
}

export function isMember(config: Configuration, id: NodeId): boolean {
  return config.voters.includes(id) || config.learners.includes(id);
}

/** The voters other than `self`. */
export function otherVoters(config: Configuration, self: NodeId): NodeId[] {
  return config.voters.filter((voter) => voter !== self);
}

/** Everyone a leader replicates to: the other voters, then the learners. */
export function replicationTargets(config: Configuration, self: NodeId): NodeId[] {
  return [...otherVoters(config, self), ...config.learners.filter((learner) => learner !== self)];
}

export type ChangeOutcome = { readonly ok: true; readonly config: Configuration } | { readonly ok: false; readonly reason: string };

/** What a learner's replication looks like to the leader, for `promote`. */
export interface LearnerProgress {
  /** The leader knows where the learner's log meets its own (replicate mode). */
  readonly caughtUp: boolean;
  readonly matchIndex: LogIndex;
  readonly leaderLastIndex: LogIndex;
}

/** The configuration after one change, or why the change is refused (unknown id, last voter, lagging learner, …). */
export function changedConfiguration(config: Configuration, change: ConfigChange, learner?: LearnerProgress): ChangeOutcome {
  const { id } = change;
  switch (change.type) {
    case 'addLearner': {
      if (isMember(config, id)) return { ok: false, reason: `${id} is already a ${isVoter(config, id) ? 'voter' : 'learner'}` };
      const addresses = change.address !== undefined ? { ...config.addresses, [id]: change.address } : config.addresses;
      return { ok: true, config: { voters: config.voters, learners: [...config.learners, id], ...(addresses !== undefined ? { addresses } : {}) } };
    }
    case 'promote': {
      if (isVoter(config, id)) return { ok: false, reason: `${id} is already a voter` };
      if (!config.learners.includes(id)) return { ok: false, reason: `${id} is not a learner of this cluster: add it as a learner first` };
      const lag = learner === undefined ? Number.POSITIVE_INFINITY : learner.leaderLastIndex - learner.matchIndex;
      if (learner === undefined || !learner.caughtUp || lag > PROMOTE_MAX_LAG) {
        return {
          ok: false,
          reason: `learner ${id} lags behind the leader (${learner?.caughtUp ? `${lag} entries behind` : 'the leader has not yet heard where its log stands'}; at most ${PROMOTE_MAX_LAG} allowed): retry once it has caught up`,
        };
      }
      return {
        ok: true,
        config: withMembers(
          config,
          [...config.voters, id],
          config.learners.filter((l) => l !== id),
        ),
      };
    }
    case 'removeServer': {
      if (!isMember(config, id)) return { ok: false, reason: `${id} is not a member of this cluster` };
      if (isVoter(config, id) && config.voters.length === 1) return { ok: false, reason: `${id} is the last voter: a cluster cannot remove its last voter` };
      return {
        ok: true,
        config: withMembers(
          config,
          config.voters.filter((v) => v !== id),
          config.learners.filter((l) => l !== id),
          id,
        ),
      };
    }
  }
}

function withMembers(config: Configuration, voters: readonly NodeId[], learners: readonly NodeId[], dropped?: NodeId): Configuration {
  if (config.addresses === undefined) return { voters, learners };
  const addresses = Object.fromEntries(Object.entries(config.addresses).filter(([id]) => id !== dropped));
  return { voters, learners, addresses };
}

export function sameMembers(a: Configuration, b: Configuration): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]) => {
    const set = new Set(x);
    return set.size === new Set(y).size && y.every((id) => set.has(id));
  };
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}

// ---------------------------------------------------------------- the configurations a log holds

/** A configuration and the index of the entry that set it (0: the bootstrap list; the snapshot's index: carried by it). */
export interface ConfigRecord {
  readonly index: LogIndex;
  readonly config: Configuration;
}

/**
 * The configurations in a node's log, oldest first; the last is in force. The first is the base:
 * the configuration at or before the log's first entry (the snapshot's, or the bootstrap list).
 */
export type ConfigHistory = readonly ConfigRecord[];

export function inForce(history: ConfigHistory): ConfigRecord {
  return history[history.length - 1] as ConfigRecord;
}

/** After appending entries: each configuration entry takes effect at once. */
export function historyAfterAppend(history: ConfigHistory, entries: readonly LogEntry<unknown>[]): ConfigHistory {
  let next: ConfigRecord[] | undefined;
  for (const entry of entries) {
    if (!isConfigCommand(entry.command)) continue;
    next ??= [...history];
    next.push({ index: entry.index, config: configOf(entry.command) });
  }
  return next ?? history;
}

/** After truncating the log from `index`: the configurations its removed entries set are undone. */
export function historyAfterTruncation(history: ConfigHistory, index: LogIndex): ConfigHistory {
  if (inForce(history).index < index) return history;
  return history.filter((record, i) => i === 0 || record.index < index);
}

/** After compacting the log up to `index` (a snapshot): the configuration at `index` becomes the base. */
export function historyAfterCompaction(history: ConfigHistory, index: LogIndex): ConfigHistory {
  return [configAt(history, index), ...history.filter((record) => record.index > index)];
}

/** The configuration in force at `index`: set by the last configuration entry at or before it. */
export function configAt(history: ConfigHistory, index: LogIndex): ConfigRecord {
  let found = history[0] as ConfigRecord;
  for (const record of history) if (record.index <= index) found = record;
  return found;
}

/** The history of a log that starts after a snapshot carrying `base`, holding `entries`. */
export function historyOf(base: ConfigRecord, entries: readonly LogEntry<unknown>[]): ConfigHistory {
  return historyAfterAppend([base], entries);
}

// ---------------------------------------------------------------- a snapshot carries its configuration

/**
 * A snapshot's text starts with the configuration at its index: `c:` + its JSON + a newline, then
 * the state machine's text. Older snapshots (`j:` or `b:` with no header) carry none.
 */
export function withConfigHeader(config: Configuration, stateText: string): string {
  return `c:${JSON.stringify(configOf(configCommand(config)))}\n${stateText}`;
}

/** The configuration a snapshot's text carries (undefined for a snapshot written before membership changes existed). */
export function snapshotConfiguration(text: string): Configuration | undefined {
  if (!text.startsWith('c:')) return undefined;
  const end = text.indexOf('\n');
  if (end === -1) return undefined;
  let parsed: { voters?: unknown; learners?: unknown; addresses?: unknown };
  try {
    parsed = JSON.parse(text.slice(2, end)) as typeof parsed;
  } catch {
    return undefined;
  }
  if (parsed === null || !isIdList(parsed.voters) || !isIdList(parsed.learners)) return undefined;
  if (new Set([...parsed.voters, ...parsed.learners]).size !== parsed.voters.length + parsed.learners.length) return undefined;
  const addresses = isAddressMap(parsed.addresses) ? parsed.addresses : undefined;
  return { voters: parsed.voters, learners: parsed.learners, ...(addresses !== undefined ? { addresses } : {}) };
}

/** The state machine's part of a snapshot's text. */
export function snapshotStateText(text: string): string {
  if (!text.startsWith('c:')) return text;
  const end = text.indexOf('\n');
  return end === -1 ? '' : text.slice(end + 1);
}

function isIdList(value: unknown): value is NodeId[] {
  return Array.isArray(value) && value.every((id) => typeof id === 'string' && id.length > 0);
}

function isAddressMap(value: unknown): value is Record<NodeId, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((a) => typeof a === 'string');
}
