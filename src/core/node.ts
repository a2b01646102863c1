/**
 * The node's state and vocabulary as the statechart (machines/raft-node.ts) holds them: its input,
 * its context (Figure 2's state plus what the leader keeps per follower), the events it takes and
 * the effects it emits. Pure data and pure functions: no XState, no I/O, no clock.
 */
import {
  historyOf,
  inForce,
  otherVoters,
  replicationTargets,
  snapshotConfiguration,
  type ConfigChange,
  type ConfigHistory,
  type ConfigRecord,
  type Configuration,
} from './configuration.js';
import { RaftLog } from './log.js';
import { seedRng, type RngState } from './random.js';
import type { PendingRead } from './read.js';
import type { Progress } from './replication.js';
import type {
  AppendEntries,
  AppendEntriesResult,
  HardState,
  InstallSnapshot,
  InstallSnapshotResult,
  LogEntry,
  LogIndex,
  NodeId,
  RequestVote,
  RequestVoteResult,
  Role,
  RpcMessage,
  Term,
  TimeoutNow,
} from './types.js';

export interface RaftNodeInput<C = unknown> {
  id: NodeId;
  /**
   * The voters the cluster was bootstrapped with; may or may not include `id` (which is a voter).
   * Only a node whose storage holds no configuration uses it: a configuration entry in the log, or
   * the one a snapshot carries, wins (membership changes live in the log).
   */
  peers: readonly NodeId[];
  /** Each bootstrap voter's address, written into the first configuration entry. */
  addresses?: Readonly<Record<NodeId, string>>;
  /**
   * A new, empty server that waits to be added to a running cluster: it starts with no
   * configuration (and `peers` is ignored), so it never campaigns until a configuration entry
   * that makes it a voter reaches its log.
   */
  join?: boolean;
  /** [min, max] election timeout in ms; each wait is drawn uniformly from it. Default [150, 300]. */
  electionTimeout?: readonly [number, number];
  /** Heartbeat interval in ms. Default 50. */
  heartbeatInterval?: number;
  /** Seed of the generator that draws election timeouts. Default: derived from `id`. */
  seed?: number;
  /** Most entries in one AppendEntries. Default 256. */
  maxEntriesPerMessage?: number;
  /** Most bytes of entries (their JSON) in one AppendEntries; a single larger entry still goes alone. Default 1 MiB. */
  maxBytesPerMessage?: number;
  /**
   * Ask for pre-votes before an election (Raft thesis §9.6), so a node that was cut off cannot
   * depose a working leader by coming back with a higher term. Default true.
   */
  preVote?: boolean;
  /** A leader that has not heard from a majority within an election timeout steps down. Default true. */
  checkQuorum?: boolean;
  /** Most characters of a snapshot in one InstallSnapshot chunk. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /**
   * What storage holds: a restart is a new actor from this, not a snapshot restore. With a
   * snapshot, `log` holds the entries after it, and the node starts with them committed and
   * applied up to the snapshot (its host restores the state machine from `snapshot.data`).
   */
  persisted?: { currentTerm: Term; votedFor: NodeId | null; log: readonly LogEntry<C>[]; snapshot?: Snapshot | undefined };
}

/** A snapshot as the node keeps it: the state up to `index` (of `term`), serialized by its host. */
export interface Snapshot {
  readonly index: LogIndex;
  readonly term: Term;
  readonly data: string;
}

/** A snapshot a follower is receiving, chunk by chunk. */
export interface IncomingSnapshot {
  readonly leaderId: NodeId;
  readonly index: LogIndex;
  readonly term: Term;
  readonly chunks: readonly string[];
  /** Characters received so far: the offset the next chunk must start at. */
  readonly received: number;
}

export interface RaftContext<C = unknown> {
  readonly id: NodeId;
  /** The configurations the log holds (the last is in force), see core/configuration.ts. */
  readonly configs: ConfigHistory;
  /** The configuration in force (the last of `configs`). */
  readonly config: Configuration;
  /** The other voters of the configuration in force. */
  readonly peers: readonly NodeId[];
  /** Everyone a leader replicates to: the other voters and the learners. */
  readonly replicas: readonly NodeId[];
  readonly electionTimeout: readonly [number, number];
  readonly heartbeatInterval: number;
  readonly maxEntriesPerMessage: number;
  readonly maxBytesPerMessage: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly snapshotChunkBytes: number;
  /** State of the seeded generator that draws election timeouts. */
  readonly rng: RngState;
  /** The election timeout most recently drawn (ms). */
  readonly electionDelay: number;
  // Persistent state on all servers (Figure 2)
  readonly currentTerm: Term;
  readonly votedFor: NodeId | null;
  readonly log: RaftLog<C>;
  /** The latest snapshot (the log holds the entries after it), durable with the log. */
  readonly snapshot: Snapshot | undefined;
  // Volatile state on all servers
  readonly commitIndex: LogIndex;
  readonly lastApplied: LogIndex;
  readonly leaderId: NodeId | null;
  /**
   * A leader of our term was heard from within the shortest election timeout (or we lead): deny
   * pre-votes. Cleared by timeout.leaderContact, by this node's own election timeout and by a new term.
   */
  readonly heardFromLeader: boolean;
  /** Follower: a snapshot being received from the leader. */
  readonly incomingSnapshot: IncomingSnapshot | undefined;
  // Candidate and pre-candidate
  readonly votes: readonly NodeId[];
  // Volatile state on leaders, reinitialised after election
  readonly nextIndex: Readonly<Record<NodeId, LogIndex>>;
  readonly matchIndex: Readonly<Record<NodeId, LogIndex>>;
  readonly replication: Readonly<Record<NodeId, Omit<Progress, 'nextIndex' | 'matchIndex'>>>;
  /** Check-quorum: the peers that answered since the leader's last check. */
  readonly recentlyActive: readonly NodeId[];
  /** ReadIndex: the current leadership-confirmation round, the highest round each peer answered, reads waiting. */
  readonly readSeq: number;
  readonly ackedSeq: Readonly<Record<NodeId, number>>;
  readonly reads: readonly PendingRead[];
  /** Leader: a configuration change asked for before it committed an entry of its term, held back until it has. */
  readonly heldConfigChange: { readonly change: ConfigChange; readonly requestId: string } | undefined;
  /** Leader: a leadership transfer in progress (thesis §3.10): proposals are refused until it ends. */
  readonly transfer: { readonly to: NodeId; readonly requestId: string | undefined; readonly timeoutNowSent: boolean } | undefined;
}

export type RaftEvent<C = unknown> =
  | { type: 'timeout.election' }
  /** Follower: the shortest election timeout passed since the leader was last heard from (its lease at this follower ended). */
  | { type: 'timeout.leaderContact' }
  | { type: 'timeout.heartbeat' }
  | RequestVote
  | RequestVoteResult
  | AppendEntries<C>
  | AppendEntriesResult
  | InstallSnapshot
  | InstallSnapshotResult
  /**
   * The host made a snapshot of its state machine after applying every entry up to `index` (at most
   * lastApplied): compact the log behind it and persist it.
   */
  | { type: 'snapshot.taken'; index: LogIndex; data: string }
  /** Append commands to the log (leader only). A batch is one event. */
  | { type: 'client.propose'; commands: readonly C[]; requestId?: string }
  /** Ask for a linearizable read point (leader only). */
  | { type: 'client.read'; requestIds: readonly string[] }
  /** Change the membership by one server (leader only); answered by configChangeAccepted / configChangeRejected. */
  | { type: 'client.changeConfig'; change: ConfigChange; requestId: string }
  /** Hand leadership to `to` (or the most up-to-date voter), thesis §3.10; answered by transferStarted / transferEnded. */
  | { type: 'client.transferLeadership'; to?: NodeId; requestId?: string }
  /** The leadership transfer took longer than an election timeout: abandon it and serve again. */
  | { type: 'timeout.transfer' }
  | TimeoutNow;

export type RaftEffect<C = unknown> =
  /**
   * Write before anything else of this step leaves: hard state, then the snapshot (dropping the
   * entries it covers), then drop entries ≥ truncateFrom, then append.
   */
  | { type: 'persist'; hardState: HardState; snapshot?: Snapshot; truncateFrom?: LogIndex; entries: readonly LogEntry<C>[] }
  | { type: 'send'; to: NodeId; message: RpcMessage<C> }
  /** Newly committed entries, in index order, each exactly once per actor. */
  | { type: 'apply'; entries: readonly LogEntry<C>[] }
  /** Replace the state machine's state by this snapshot (installed from the leader), in order with `apply`. */
  | { type: 'restore'; snapshot: Snapshot }
  | { type: 'roleChanged'; role: Role; term: Term }
  | { type: 'leaderChanged'; leaderId: NodeId | null; term: Term }
  | { type: 'proposalAccepted'; requestId?: string; entries: readonly LogEntry<C>[] }
  /** Not the leader (or handing leadership to `leaderId`); `reserved`: a client proposed one of Raft's own commands. */
  | { type: 'proposalRejected'; requestId?: string; leaderId: NodeId | null; reserved?: true }
  /** These reads may be served once lastApplied ≥ index. */
  | { type: 'readReady'; requestIds: readonly string[]; index: LogIndex }
  | { type: 'readRejected'; requestIds: readonly string[]; leaderId: NodeId | null }
  /** A configuration change is in the log at `index` (it is in force from now; it takes effect for good once committed). */
  | { type: 'configChangeAccepted'; requestId: string; index: LogIndex; term: Term }
  /** Refused, nothing changed: not the leader, another change or a transfer in progress, or an invalid change. */
  | { type: 'configChangeRejected'; requestId: string; reason: 'not_leader' | 'in_progress' | 'invalid'; detail: string; leaderId: NodeId | null }
  /** The configuration in force changed (appended, truncated back, installed from a snapshot). */
  | { type: 'configChanged'; config: Configuration; index: LogIndex }
  /** A leadership transfer to `to` began. */
  | { type: 'transferStarted'; requestId?: string; to: NodeId }
  /** Refused at once (not the leader; no such voter, or one already under way), or abandoned after an election timeout. */
  | { type: 'transferEnded'; requestId?: string; to: NodeId | null; outcome: 'not_leader' | 'in_progress' | 'refused' | 'abandoned'; detail: string; leaderId: NodeId | null }
  /** Something that Raft says cannot happen did; reported, never acted upon. */
  | { type: 'invariantViolation'; rule: string; detail: string };

/** Where a rule's effects go, and the one guard a rule consults mid-way (a mutant may replace it). */
export interface EffectSink {
  emit(effect: RaftEffect<unknown>): void;
  /** The leader commit rule's term check (§5.4.2), as the machine's `isCommittableIndex` guard. */
  isCommittable(entryTerm: Term | undefined, currentTerm: Term): boolean;
}

type Ctx = RaftContext<unknown>;

export function hardState(ctx: Pick<Ctx, 'currentTerm' | 'votedFor'>): HardState {
  return { currentTerm: ctx.currentTerm, votedFor: ctx.votedFor };
}

export function votersCount(ctx: Pick<Ctx, 'config'>): number {
  return ctx.config.voters.length;
}

/** This node is a voter of the configuration in force (it may campaign, and counts itself in its quorums). */
export function isSelfVoter(ctx: Pick<Ctx, 'config' | 'id'>): boolean {
  return ctx.config.voters.includes(ctx.id);
}

/**
 * May this node stand for election? If it is a voter of its configuration in force — or of the
 * one before it while that one is not yet committed here (thesis §4.2.2): a leader that removes
 * itself and loses office before the removal commits may hold the log the remaining voters need,
 * and without it they could never elect anyone. It then counts only the new configuration's
 * votes, its own not among them, and once its removal commits it steps down.
 */
export function mayCampaign(ctx: Pick<Ctx, 'config' | 'configs' | 'id' | 'commitIndex'>): boolean {
  if (isSelfVoter(ctx)) return true;
  const previous = ctx.configs[ctx.configs.length - 2];
  return previous !== undefined && inForce(ctx.configs).index > ctx.commitIndex && previous.config.voters.includes(ctx.id);
}

/** The votes a new (pre-)candidate starts with: its own, if it is a voter of the configuration in force. */
export function ownVote(ctx: Pick<Ctx, 'config' | 'id'>): readonly NodeId[] {
  return isSelfVoter(ctx) ? [ctx.id] : [];
}

/** The context with `configs` as its configuration history, and what follows from the one in force. */
export function withConfigs(ctx: Ctx, configs: ConfigHistory): Ctx {
  if (configs === ctx.configs) return ctx;
  const config = inForce(configs).config;
  return { ...ctx, configs, config, peers: otherVoters(config, ctx.id), replicas: replicationTargets(config, ctx.id) };
}

/** The election timeout range and heartbeat interval a node has unless told otherwise, ms. */
export const DEFAULT_ELECTION_TIMEOUT: readonly [number, number] = [150, 300];
export const DEFAULT_HEARTBEAT_INTERVAL = 50;

/** Emit `apply` for entries committed but not yet applied (each once, in order). */
export function applyCommitted(ctx: Ctx, sink: EffectSink): Ctx {
  if (ctx.commitIndex <= ctx.lastApplied) return ctx;
  sink.emit({ type: 'apply', entries: ctx.log.slice(ctx.lastApplied + 1, ctx.commitIndex) });
  return { ...ctx, lastApplied: ctx.commitIndex };
}

export function initialContext<C>(input: RaftNodeInput<C>): RaftContext<C> {
  const persisted = input.persisted;
  const snapshot = persisted?.snapshot;
  const bootstrap: Configuration = input.join
    ? { voters: [], learners: [] }
    : { voters: [...new Set([...input.peers, input.id])], learners: [], ...(input.addresses !== undefined ? { addresses: { ...input.addresses } } : {}) };
  const base = (snapshot !== undefined ? snapshotRecord(snapshot) : undefined) ?? { index: 0, config: bootstrap };
  const entries = persisted?.log ?? [];
  const configs = historyOf(base, entries);
  const config = inForce(configs).config;
  return {
    id: input.id,
    configs,
    config,
    peers: otherVoters(config, input.id),
    replicas: replicationTargets(config, input.id),
    electionTimeout: input.electionTimeout ?? DEFAULT_ELECTION_TIMEOUT,
    heartbeatInterval: input.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
    maxEntriesPerMessage: input.maxEntriesPerMessage ?? 256,
    maxBytesPerMessage: input.maxBytesPerMessage ?? 1024 * 1024,
    preVote: input.preVote ?? true,
    checkQuorum: input.checkQuorum ?? true,
    snapshotChunkBytes: input.snapshotChunkBytes ?? 1024 * 1024,
    heardFromLeader: false,
    recentlyActive: [],
    rng: seedRng(input.seed ?? hashId(input.id)),
    electionDelay: 0,
    currentTerm: persisted?.currentTerm ?? 0,
    votedFor: persisted?.votedFor ?? null,
    log: RaftLog.from<C>(entries, snapshot),
    snapshot,
    incomingSnapshot: undefined,
    // A snapshot holds only committed entries, and the host restored the state machine from it.
    commitIndex: snapshot?.index ?? 0,
    lastApplied: snapshot?.index ?? 0,
    leaderId: null,
    votes: [],
    nextIndex: {},
    matchIndex: {},
    replication: {},
    readSeq: 0,
    ackedSeq: {},
    reads: [],
    heldConfigChange: undefined,
    transfer: undefined,
  };
}

/** The configuration a snapshot carries, as the first record of the history (undefined for a snapshot written before membership changes). */
function snapshotRecord(snapshot: Snapshot): ConfigRecord | undefined {
  const config = snapshotConfiguration(snapshot.data);
  return config === undefined ? undefined : { index: snapshot.index, config };
}

/** FNV-1a of the id: the default seed, stable across versions so that a recorded run replays. */
function hashId(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}
