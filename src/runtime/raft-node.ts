/**
 * RaftNode: the one host for every node. It starts a `raftNodeMachine` actor from what storage
 * holds and performs what the machine emits, batched per turn of the event loop (in the
 * simulator: per step), in the durability order:
 *
 *   1. write the batch's hard state and entries to storage (one atomic write, one fsync);
 *   2. hand the batch's messages to the transport;
 *   3. apply newly committed entries to the state machine, answer waiting proposals and reads.
 *
 * So no reply leaves and no client is answered before what it depends on is on disk. One
 * exception, the leader's write in parallel with replication (Raft thesis §10.2.1): a leader's
 * batch that only appends to its log (the hard state storage already holds, no truncation, no
 * snapshot, none of the new entries committed) sends its messages — AppendEntries, heartbeats,
 * refusals — first and is written on the next turn, so the followers write while the leader does.
 * Those messages depend on nothing of its own disk. The leader may count itself toward a
 * quorum before its write ends (an acknowledgement can arrive in between), but nothing that
 * decision causes is performed before: every later batch waits for this one to be written
 * (`completeLeaderBatch` runs first), and so do this batch's applies and answers. A crash in
 * between loses only entries no one was told are committed.
 *
 * On a storage that writes in the background (Storage.submit: the SQLite writer thread) the
 * order is the same, kept by a queue instead of by blocking: each batch's write is submitted and
 * its messages, announcements, applies and answers wait in `performing` until that write and every
 * earlier batch's are done (a batch with no write waits behind them too: a duplicate
 * acknowledgement promises what an earlier write holds). The event loop meanwhile goes on
 * receiving and stepping, and what it gathers is the next batch, which the writer commits with
 * whatever else queued, in one fsync. The leader's append-only batch sends first here too, only
 * when no write of its own is pending (its leaderCommit may count entries of an earlier batch).
 */
import { createActor } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftNodeActor } from '../../machines/raft-node.js';
import { configAt, isConfigCommand, isRaftCommand, withConfigHeader, type ConfigChange, type Configuration } from '../core/configuration.js';
import type { Snapshot } from '../core/node.js';
import { type HardState, isNoop, type LogEntry, type LogIndex, type NodeId, type Role, type RpcMessage, type Term } from '../core/types.js';
import { parseRpcMessage } from '../core/validate.js';
import { InvalidRequestError, NotLeaderError, StoppedError } from '../errors.js';
import type { StateMachine } from '../state-machine.js';
import { BatchBuilder, type PersistBatch, type SnapshotRecord, type Storage } from '../storage/storage.js';
import type { ClientRequest, ClientResponse, Transport } from '../transport/transport.js';
import { systemClock, type Clock } from './clock.js';
import { ownCopy } from './command-copy.js';
import { Emitter } from './emitter.js';
import { forwardOrReject, serveForwarded } from './forwarding.js';
import { MembershipRequests } from './membership.js';
import { WaitingRequests } from './requests.js';
import { decodeSnapshot, encodeSnapshot, StagedSnapshotJob } from './snapshot.js';

/** Applied entries between automatic snapshots (createRaftNode's snapshotThreshold). */
export const DEFAULT_SNAPSHOT_THRESHOLD = 8192;

export interface RaftNodeOptions<C = unknown, R = unknown, Q = unknown, QR = unknown> {
  id: NodeId;
  /**
   * The voters the cluster is bootstrapped with (may include `id`). Used only while storage holds
   * no configuration: the first leader writes it into the log, and from then on membership lives
   * there (addLearner, promote, removeServer) and this list is ignored.
   */
  peers: readonly NodeId[];
  /** Each bootstrap voter's address, written into the first configuration entry (transports that need addresses learn them from it). */
  addresses?: Readonly<Record<NodeId, string>>;
  /**
   * A new, empty server for a running cluster: no configuration of its own, `peers` ignored; it
   * never campaigns until a configuration entry that makes it a voter reaches its log (see
   * addLearner, promote on the leader).
   */
  join?: boolean;
  transport: Transport;
  /**
   * Where the node keeps its term, vote, log and snapshot. Its command type is not inferred: the
   * state machine alone types the node (a `new MemoryStorage()` would otherwise widen it to unknown).
   */
  // biome-ignore lint/suspicious/noExplicitAny: a storage holds whatever commands the state machine types
  storage: Storage<any>;
  stateMachine: StateMachine<C, R, Q, QR>;
  clock?: Clock;
  /** Seed for the election-timeout generator. */
  random?: number;
  electionTimeout?: readonly [number, number];
  heartbeatInterval?: number;
  maxEntriesPerMessage?: number;
  /** Most bytes of entries in one AppendEntries (keep it under the transport's body limit). Default 1 MiB. */
  maxBytesPerMessage?: number;
  /**
   * Take a snapshot of the state machine (and compact the log behind it) once this many entries
   * were applied since the last one. Default 8192. Needs a state machine with `snapshot` and
   * `restore`, and a storage that keeps snapshots (`storesSnapshots`: MemoryStorage does).
   */
  snapshotThreshold?: number;
  /** Most characters of a snapshot in one InstallSnapshot chunk (also capped by maxBytesPerMessage). Default 1 MiB. */
  snapshotChunkBytes?: number;
  /** On a follower, forward propose/read to the leader (default) or reject with NotLeaderError. */
  forwardToLeader?: boolean;
  /** A proposal not applied within this many ms is rejected with OutcomeUnknownError. Default 10 000. */
  proposalTimeout?: number;
  /** A read not served within this many ms is rejected with ReadTimeoutError (safe to retry). Default 10 000. */
  readTimeout?: number;
  /** Called after each batch is performed, for metrics (writeMs is the storage write's duration by `clock`). */
  onBatch?: (batch: { entries: number; messages: number; applied: number; writeMs: number }) => void;
  /** Where failures that must not crash the node are reported (a throwing listener, a bad message). */
  onError?: (error: unknown, context: string) => void;
  /** Sees every effect the machine emits, before it is performed (the simulator's checker uses it). */
  observeEffect?: (effect: RaftEffect<C>) => void;
  /**
   * The statechart to run (default `raftNodeMachine`). Tests pass a mutant built with
   * `raftNodeMachine.provide({ guards: … })` to prove the safety checker catches a broken rule.
   */
  machine?: typeof raftNodeMachine;
  /** Inspection hook passed to the actor (Stately inspector, tests). */
  inspect?: Parameters<typeof createActor>[1] extends infer O ? (O extends { inspect?: infer I } ? I : never) : never;
}

export interface NodeStatus {
  id: NodeId;
  role: Role;
  term: Term;
  leaderId: NodeId | null;
  commitIndex: LogIndex;
  lastApplied: LogIndex;
  lastLogIndex: LogIndex;
  /** The latest snapshot's last included index and term (0 and 0 without one). */
  snapshotIndex: LogIndex;
  snapshotTerm: Term;
  /** The first index the log holds (snapshotIndex + 1). */
  firstLogIndex: LogIndex;
  /** The configuration in force (its last configuration entry, appended even if not yet committed). */
  voters: NodeId[];
  learners: NodeId[];
}

/** The configuration in force on a node, and whether its entry is committed. */
export interface Membership extends Configuration {
  /** The index of the entry that set it (0: the bootstrap list, not yet written to the log). */
  index: LogIndex;
  committed: boolean;
}

export interface ProposeResult<R = unknown> {
  index: LogIndex;
  term: Term;
  result: R;
}

export interface AppliedEvent<C = unknown, R = unknown> {
  index: LogIndex;
  term: Term;
  command: C;
  result: R;
}

export type RaftNodeEvents<C, R> = {
  leader: { leaderId: NodeId | null; term: Term };
  role: { role: Role; term: Term };
  applied: AppliedEvent<C, R>;
  error: { error: unknown; context: string };
  /** The node stopped by itself because it cannot go on safely (storage failed, its machine failed). */
  failed: { error: unknown; reason: string };
  /** A snapshot is on disk: see SnapshotEvent. */
  snapshot: SnapshotEvent;
  /** The configuration in force changed (an entry appended or truncated, a snapshot installed), or its entry was committed. */
  members: Membership;
};

/**
 * A snapshot reached storage, for operators' figures. `taken`: this node snapshotted its state
 * machine, and `ms` runs from the state machine's snapshot() until the snapshot is on disk (on a
 * storage that stages snapshots, that spans the turns in which its data was written ahead while the
 * node kept serving); `installed`: it came from the leader (InstallSnapshot), and `ms` is the write.
 * Durations are measured with the node's clock (virtual in the simulator).
 */
export interface SnapshotEvent {
  index: LogIndex;
  term: Term;
  /** The stored snapshot's size: its text (see runtime/snapshot.ts) in UTF-8 bytes. */
  bytes: number;
  ms: number;
  source: 'taken' | 'installed';
}

export interface RaftNode<C = unknown, R = unknown, Q = unknown, QR = unknown> {
  readonly id: NodeId;
  /**
   * Append `command` (forwarded to the leader from a follower) and answer once it is applied.
   * Rejects with InvalidRequestError, before anything reaches the log, if `command` is not a JSON
   * value (followers and the disk hold JSON; see `jsonText` in core/json.ts).
   */
  propose(command: C): Promise<ProposeResult<R>>;
  /**
   * Like Raft's Start(): if this node leads, append `command` now and return its index and term
   * at once; nobody is told when (or whether) it commits — watch `applied`. Not forwarded.
   * @throws InvalidRequestError if `command` is not a JSON value, whatever this node's role; nothing changes.
   */
  submit(command: C): { index: LogIndex; term: Term; isLeader: boolean };
  read(query: Q): Promise<QR>;
  /**
   * Take a snapshot of the state machine now, at the last applied index, and compact the log
   * behind it; resolves once it is on disk. Resolves with the latest snapshot when nothing was
   * applied since it. Rejects with InvalidRequestError when the state machine cannot snapshot.
   */
  snapshot(): Promise<{ index: LogIndex; term: Term }>;
  status(): NodeStatus;
  /** The configuration in force on this node. */
  members(): Membership;
  /**
   * Add `id` as a learner (it receives the log and snapshots, never votes). Resolves once the
   * change is committed. Leader only.
   * @throws NotLeaderError · ConfigChangeInProgressError (another change not yet committed, or a transfer) · InvalidRequestError (already a member)
   */
  addLearner(id: NodeId, options?: { address?: string }): Promise<{ index: LogIndex; term: Term }>;
  /**
   * Make a learner a voter, once it has caught up (PROMOTE_MAX_LAG). Resolves once committed.
   * @throws NotLeaderError · ConfigChangeInProgressError · InvalidRequestError (not a learner, lagging)
   */
  promote(id: NodeId): Promise<{ index: LogIndex; term: Term }>;
  /**
   * Remove a voter or a learner. A leader that removes itself hands leadership over once the
   * change commits. Resolves once committed.
   * @throws NotLeaderError · ConfigChangeInProgressError · InvalidRequestError (unknown id, the last voter)
   */
  removeServer(id: NodeId): Promise<{ index: LogIndex; term: Term }>;
  /**
   * Hand leadership to `to` (default: the most up-to-date voter): proposals are refused meanwhile;
   * resolves once the new leader is known here. Abandoned after an election timeout.
   * @throws NotLeaderError · InvalidRequestError (not another voter) · LeadershipTransferError (abandoned, or another voter won)
   */
  transferLeadership(to?: NodeId): Promise<{ leaderId: NodeId; term: Term }>;
  on<K extends keyof RaftNodeEvents<C, R>>(event: K, listener: (payload: RaftNodeEvents<C, R>[K]) => void): () => void;
  /** The node's actor, for inspection and embedding (do not send it events behind the runtime's back). */
  readonly actor: RaftNodeActor;
  /** Entries in the node's log (a copy). */
  log(): LogEntry<C>[];
  /**
   * Stop the node; `{ flush: true }` first performs the batch being gathered and stores a snapshot
   * still being written ahead (clean shutdown).
   */
  stop(options?: { flush?: boolean }): void;
  readonly stopped: boolean;
}

export function createRaftNode<C = unknown, R = unknown, Q = unknown, QR = unknown>(options: RaftNodeOptions<C, R, Q, QR>): RaftNode<C, R, Q, QR> {
  return new RaftNodeRuntime(options);
}

class RaftNodeRuntime<C, R, Q, QR> implements RaftNode<C, R, Q, QR> {
  readonly id: NodeId;
  readonly actor: RaftNodeActor;
  private readonly clock: Clock;
  private readonly membership: MembershipRequests;
  private readonly emitter = new Emitter<RaftNodeEvents<C, R>>((error, event) => this.report(error, `listener for '${String(event)}'`));

  // The batch being gathered in this turn.
  private readonly persist = new BatchBuilder<C>();
  private sends: { to: NodeId; message: RpcMessage<C> }[] = [];
  /** Committed entries to apply, and snapshots to restore, in log order. */
  private applies: (LogEntry<C> | Snapshot)[] = [];
  private announcements: RaftEffect<C>[] = [];
  private flushScheduled = false;
  /** The hard state storage holds (a batch always carries one; the leader's own appends do not change it). */
  private durableHardState: HardState;
  /** A leader's append-only batch whose messages went out first: its write and the rest, next turn (see the top). */
  private leaderBatch: { persist: PersistBatch<C>; announcements: RaftEffect<C>[]; applies: (LogEntry<C> | Snapshot)[]; messages: number } | undefined;
  /**
   * On a storage that writes in the background: the batches submitted and not yet performed, in
   * order; `run` performs one (its messages, announcements, applies), once `written`.
   */
  private readonly performing: { written: boolean; run: () => void }[] = [];
  private draining = false;
  /** Replicated time (StateMachine.stamp): the timer for the next tick entry, and whether one is in the log unapplied. */
  private tickTimer: { handle: unknown; at: number } | undefined;
  /** The tick entry appended and not yet applied (one at a time). */
  private tickInFlight: { index: LogIndex; term: Term } | undefined;

  // Requests waiting for the machine or for apply.
  private readonly requests: WaitingRequests<R, QR>;

  private appliedIndex: LogIndex = 0;
  /** Applied entries since the last snapshot, and who waits for a snapshot to be on disk. */
  private lastSnapshotAt: LogIndex = 0;
  private snapshotWaiters: { index: LogIndex; resolve: (at: { index: LogIndex; term: Term }) => void; reject: (error: unknown) => void }[] = [];
  /** The snapshot this node took and handed to the machine, until it is written (for the `snapshot` event). */
  private takenSnapshot: { index: LogIndex; ms: number } | undefined;
  /** On a storage that stages snapshots: the one this node took and is writing ahead (one at a time). */
  private snapshotJob: StagedSnapshotJob | undefined;
  private role: Role = 'follower';
  private term: Term;
  private stopping = false;
  stopped = false;

  constructor(private readonly options: RaftNodeOptions<C, R, Q, QR>) {
    this.id = options.id;
    this.clock = options.clock ?? systemClock;
    this.requests = new WaitingRequests<R, QR>(this.clock, options);
    this.membership = new MembershipRequests(this.clock, options.proposalTimeout ?? 10_000);
    const persisted = options.storage.load();
    this.term = persisted.hardState.currentTerm;
    this.durableHardState = persisted.hardState;
    // Restart = restore the latest snapshot, then replay only the entries after it.
    if (persisted.snapshot !== undefined) {
      if (typeof options.stateMachine.restore !== 'function') {
        throw new InvalidRequestError(`storage holds a snapshot at index ${persisted.snapshot.index}, but this state machine has no restore()`);
      }
      this.restoreFrom(persisted.snapshot);
    }
    this.actor = createActor(options.machine ?? raftNodeMachine, {
      input: {
        id: options.id,
        peers: options.peers,
        ...(options.addresses !== undefined ? { addresses: options.addresses } : {}),
        ...(options.join ? { join: true } : {}),
        ...(options.electionTimeout ? { electionTimeout: options.electionTimeout } : {}),
        ...(options.heartbeatInterval ? { heartbeatInterval: options.heartbeatInterval } : {}),
        ...(options.maxEntriesPerMessage ? { maxEntriesPerMessage: options.maxEntriesPerMessage } : {}),
        ...(options.maxBytesPerMessage ? { maxBytesPerMessage: options.maxBytesPerMessage } : {}),
        ...(options.random !== undefined ? { seed: options.random } : {}),
        ...(options.snapshotChunkBytes ? { snapshotChunkBytes: options.snapshotChunkBytes } : {}),
        persisted: {
          currentTerm: persisted.hardState.currentTerm,
          votedFor: persisted.hardState.votedFor,
          log: persisted.entries,
          snapshot: persisted.snapshot,
        },
      },
      clock: this.clock,
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    // Effects are gathered here; nothing is performed until the batch is flushed.
    this.actor.on('*', (effect) => this.gather(effect as RaftEffect<C>));
    // A rule that throws means the node reached a state Raft says is impossible: stop, loudly,
    // rather than let XState rethrow it on a timer (which would kill the whole process).
    this.actor.subscribe({
      error: (error) => {
        this.fail(error, 'the node machine failed; the node stops');
      },
    });
    options.transport.start({
      onMessage: (message) => this.receive(message),
      onRequest: (request) => this.serveForwarded(request),
    });
    this.actor.start();
    this.learnAddresses(this.actor.getSnapshot().context.config);
    this.scheduleFlush();
  }

  // ------------------------------------------------------------ public API

  propose(proposed: C): Promise<ProposeResult<R>> {
    if (this.stopped) return Promise.reject(new StoppedError());
    let command: C;
    try {
      command = clientCommand(proposed);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.actor.getSnapshot().value !== 'leader') return this.forwardOrReject<ProposeResult<R>>({ type: 'propose', command });
    const answer = this.requests.propose(command);
    this.scheduleFlush();
    return answer;
  }

  submit(proposed: C): { index: LogIndex; term: Term; isLeader: boolean } {
    // Checked before the role: a bad command is the caller's bug on every node, not only on the leader.
    const command = clientCommand(proposed);
    const before = this.actor.getSnapshot();
    if (this.stopped || before.value !== 'leader') return { index: -1, term: before.context.currentTerm, isLeader: false };
    const [logged] = this.stamped([command]);
    this.actor.send({ type: 'client.propose', commands: [logged] });
    const { context } = this.actor.getSnapshot();
    const last = context.log.entry(context.log.lastIndex);
    if (last === undefined || last.command !== logged) return { index: -1, term: context.currentTerm, isLeader: false };
    return { index: last.index, term: last.term, isLeader: true };
  }

  read(query: Q): Promise<QR> {
    if (this.stopped) return Promise.reject(new StoppedError());
    if (this.actor.getSnapshot().value !== 'leader') return this.forwardOrReject<QR>({ type: 'read', query });
    const answer = this.requests.read(query);
    this.scheduleFlush();
    return answer;
  }

  snapshot(): Promise<{ index: LogIndex; term: Term }> {
    if (this.stopped) return Promise.reject(new StoppedError());
    const { stateMachine } = this.options;
    if (typeof stateMachine.snapshot !== 'function' || typeof stateMachine.restore !== 'function') {
      return Promise.reject(new InvalidRequestError('this state machine has no snapshot() and restore(), so its log cannot be compacted'));
    }
    if (this.options.storage.storesSnapshots !== true) {
      return Promise.reject(new InvalidRequestError('this storage does not keep snapshots, so the log cannot be compacted'));
    }
    const { log } = this.actor.getSnapshot().context;
    if (this.appliedIndex <= log.snapshotIndex) {
      if (log.snapshotIndex === 0) return Promise.reject(new InvalidRequestError('nothing has been applied yet: there is nothing to snapshot'));
      return Promise.resolve({ index: log.snapshotIndex, term: log.snapshotTerm });
    }
    return new Promise((resolve, reject) => {
      this.snapshotWaiters.push({ index: this.appliedIndex, resolve, reject });
      this.takeSnapshot();
    });
  }

  status(): NodeStatus {
    const { context, value } = this.actor.getSnapshot();
    return {
      id: this.id,
      role: value as Role,
      term: context.currentTerm,
      leaderId: context.leaderId,
      commitIndex: context.commitIndex,
      lastApplied: this.appliedIndex,
      lastLogIndex: context.log.lastIndex,
      snapshotIndex: context.log.snapshotIndex,
      snapshotTerm: context.log.snapshotTerm,
      firstLogIndex: context.log.firstIndex,
      voters: [...context.config.voters],
      learners: [...context.config.learners],
    };
  }

  members(): Membership {
    const { configs, commitIndex } = this.actor.getSnapshot().context;
    const record = configs[configs.length - 1] as (typeof configs)[number];
    return membership(record.config, record.index, commitIndex);
  }

  addLearner(id: NodeId, options: { address?: string } = {}): Promise<{ index: LogIndex; term: Term }> {
    if (typeof options.address === 'string' && options.address.length === 0) return Promise.reject(new InvalidRequestError('address must not be empty'));
    return this.changeConfig({ type: 'addLearner', id, ...(options.address !== undefined ? { address: options.address } : {}) });
  }

  promote(id: NodeId): Promise<{ index: LogIndex; term: Term }> {
    return this.changeConfig({ type: 'promote', id });
  }

  removeServer(id: NodeId): Promise<{ index: LogIndex; term: Term }> {
    return this.changeConfig({ type: 'removeServer', id });
  }

  transferLeadership(to?: NodeId): Promise<{ leaderId: NodeId; term: Term }> {
    if (this.stopped) return Promise.reject(new StoppedError());
    if (to !== undefined && (typeof to !== 'string' || to.length === 0)) return Promise.reject(new InvalidRequestError('to must be a node id'));
    const { value, context } = this.actor.getSnapshot();
    // Already there: nothing to hand over.
    if (to === this.id && value === 'leader') return Promise.resolve({ leaderId: this.id, term: context.currentTerm });
    return this.membership.transfer(to, (requestId) => {
      this.actor.send({ type: 'client.transferLeadership', requestId, ...(to !== undefined ? { to } : {}) });
      this.scheduleFlush();
    });
  }

  private changeConfig(change: ConfigChange): Promise<{ index: LogIndex; term: Term }> {
    if (this.stopped) return Promise.reject(new StoppedError());
    if (typeof change.id !== 'string' || change.id.length === 0 || change.id.length > 256)
      return Promise.reject(new InvalidRequestError('a server id must be a string of 1 to 256 characters'));
    return this.membership.change(change, (requestId) => {
      this.actor.send({ type: 'client.changeConfig', change, requestId });
      this.scheduleFlush();
    });
  }

  /** Tell a transport that needs addresses where the members of `config` are. */
  private learnAddresses(config: Configuration): void {
    const { transport } = this.options;
    if (transport.setPeerAddress === undefined || config.addresses === undefined) return;
    for (const [id, address] of Object.entries(config.addresses)) {
      if (id === this.id) continue;
      try {
        transport.setPeerAddress(id, address);
      } catch (error) {
        this.report(error, `the address of ${id}`);
      }
    }
  }

  on<K extends keyof RaftNodeEvents<C, R>>(event: K, listener: (payload: RaftNodeEvents<C, R>[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  log(): LogEntry<C>[] {
    return this.actor.getSnapshot().context.log.toArray() as LogEntry<C>[];
  }

  /**
   * Stop: volatile state is gone, storage keeps what was written. By default the batch being
   * gathered is dropped, as a crash would; `{ flush: true }` finishes it first (a clean shutdown).
   */
  stop(options: { flush?: boolean } = {}): void {
    if (this.stopped) return;
    if (options.flush) {
      this.stopping = true; // no new snapshot now: it would be dropped with the node
      this.completeLeaderBatch();
      if (this.flushScheduled) this.flush();
      // A background storage: every submitted batch written and performed (in performReady).
      this.options.storage.settle?.();
      this.storeSnapshotJobNow();
      if (this.stopped) return; // the storage failed meanwhile: fail() stopped the node
    }
    this.stopped = true;
    this.cancelTick();
    this.actor.stop();
    this.options.transport.stop();
    // Queued requests get StoppedError; proposals already in the log, OutcomeUnknownError.
    this.requests.stop();
    this.membership.stop();
    // As a crash would: a snapshot not yet recorded is dropped (what it staged goes with it).
    this.snapshotJob?.staging.discard();
    this.snapshotJob = undefined;
    this.rejectSnapshotWaiters(new StoppedError());
  }

  // ------------------------------------------------------------ inbound

  private receive(raw: unknown): void {
    if (this.stopped) return;
    // Parsed at the edge once: by the transport if it says it does, otherwise here.
    const parsed = this.options.transport.validatesMessages ? { ok: true as const, message: raw as RpcMessage } : parseRpcMessage(raw);
    if (!parsed.ok) return this.report(new InvalidRequestError(parsed.error), 'rejected a malformed message');
    // A message from a server outside our configuration is still handled (thesis §4.1): a lagging
    // follower may not yet know the leader that was added after it last heard; a joining server
    // knows nobody. Who may send at all is the transport's to check (the cluster secret over HTTP).
    if (parsed.message.from === this.id) return this.report(new InvalidRequestError('message from this node itself'), 'rejected a message');
    this.actor.send(parsed.message);
  }

  private serveForwarded(request: ClientRequest): Promise<ClientResponse> {
    return serveForwarded(() => {
      if (this.actor.getSnapshot().value !== 'leader') throw new NotLeaderError(this.actor.getSnapshot().context.leaderId ?? undefined);
      return request.type === 'propose' ? this.propose(request.command as C) : this.read(request.query as Q);
    });
  }

  private forwardOrReject<T>(request: ClientRequest): Promise<T> {
    return forwardOrReject<T>(request, {
      self: this.id,
      leader: this.actor.getSnapshot().context.leaderId,
      transport: this.options.transport,
      forwardToLeader: this.options.forwardToLeader,
    });
  }

  // ------------------------------------------------------------ the batch

  private gather(effect: RaftEffect<C>): void {
    try {
      this.options.observeEffect?.(effect);
    } catch (error) {
      this.report(error, 'effect observer');
    }
    switch (effect.type) {
      case 'persist':
        this.persist.add(this.snapshotJob?.record(effect) ?? effect);
        break;
      case 'send':
        this.sends.push({ to: effect.to, message: effect.message });
        break;
      case 'apply':
        for (const entry of effect.entries) this.applies.push(entry);
        break;
      case 'restore':
        this.applies.push(effect.snapshot);
        break;
      case 'configChanged':
        // Before this batch's messages leave: its first AppendEntries to a new member needs the address.
        this.learnAddresses(effect.config);
        this.announcements.push(effect);
        break;
      default:
        this.announcements.push(effect);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    this.clock.defer(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    // A leader batch whose messages went first is written, and performed, before anything of this one.
    this.completeLeaderBatch();
    if (this.stopped) return;
    // Requests gathered during this turn enter the machine as one event each: one batch.
    const proposals = this.requests.takeQueuedProposals();
    if (proposals !== undefined) this.actor.send({ type: 'client.propose', requestId: proposals.requestId, commands: this.stamped(proposals.commands) });
    const readIds = this.requests.takeQueuedReads();
    if (readIds !== undefined) this.actor.send({ type: 'client.read', requestIds: readIds });

    // The whole batch is taken before any of it is performed. Whatever the machine emits while we
    // perform it (a listener that proposes, a role listener that submits) belongs to the next
    // batch, which is written before any of *its* messages, applies or answers: nothing is sent,
    // applied or answered before the batch that holds it is durable.
    const persist = this.persist.empty ? undefined : this.persist.take();
    const sends = this.sends;
    const announcements = this.announcements;
    const applies = this.applies;
    this.sends = [];
    this.announcements = [];
    this.applies = [];

    if (persist !== undefined && sends.length > 0 && !this.stopping && this.isLeaderAppend(persist)) {
      if (this.options.storage.submit !== undefined) {
        // In the background: its messages now, the rest once its write (submitted now) is done.
        if (this.performing.length === 0) {
          this.send(sends);
          this.perform(persist, [], announcements, applies, sends.length);
          return;
        }
        return this.perform(persist, sends, announcements, applies, sends.length);
      }
      // The leader's messages first (they depend on nothing of its disk), its write next turn —
      // recorded before the messages leave, so a listener that stops the node meanwhile finds it.
      this.leaderBatch = { persist, announcements, applies, messages: sends.length };
      this.clock.defer(() => this.completeLeaderBatch());
      this.send(sends);
      return;
    }
    this.perform(persist, sends, announcements, applies, sends.length);
  }

  /**
   * A batch the leader's log alone changes in: appended entries, the hard state storage holds
   * already (a new term or vote is written before any message), no truncation, no snapshot — and
   * none of those entries committed yet. A leader that is the only voter commits its entries in
   * the batch that appends them, counting its own unwritten log: then its leaderCommit and applies
   * depend on this write, and the batch takes the ordinary order. Its messages are the leader's
   * (AppendEntries, heartbeats, InstallSnapshot, TimeoutNow, refusals), none an answer that
   * promises something of this node's disk.
   */
  private isLeaderAppend(persist: PersistBatch<C>): boolean {
    const hard = persist.hardState;
    const first = persist.entries[0];
    const { value, context } = this.actor.getSnapshot();
    return (
      (hard === undefined || (hard.currentTerm === this.durableHardState.currentTerm && hard.votedFor === this.durableHardState.votedFor)) &&
      persist.truncateFrom === undefined &&
      persist.snapshot === undefined &&
      first !== undefined &&
      value === 'leader' &&
      context.commitIndex < first.index
    );
  }

  private completeLeaderBatch(): void {
    const batch = this.leaderBatch;
    if (batch === undefined) return;
    this.leaderBatch = undefined;
    if (this.stopped) return;
    this.perform(batch.persist, [], batch.announcements, batch.applies, batch.messages);
  }

  private send(sends: readonly { to: NodeId; message: RpcMessage<C> }[]): void {
    for (const { to, message } of sends) {
      try {
        this.options.transport.send(to, message);
      } catch (error) {
        this.report(error, `transport send to ${to}`);
      }
    }
  }

  private perform(
    persist: PersistBatch<C> | undefined,
    sends: readonly { to: NodeId; message: RpcMessage<C> }[],
    announcements: readonly RaftEffect<C>[],
    applies: readonly (LogEntry<C> | Snapshot)[],
    messages: number,
  ): void {
    const storage = this.options.storage;
    if (storage.submit !== undefined) {
      let writeMs = 0;
      const item = { written: persist === undefined, run: () => this.performWritten(persist, sends, announcements, applies, messages, writeMs) };
      this.performing.push(item);
      if (persist !== undefined) {
        const started = this.clock.now();
        const done = (error: unknown) => {
          if (this.stopped) return;
          // We cannot promise anything we have not stored: stop rather than send or answer.
          if (error !== undefined) return this.fail(error, 'storage write failed; the node stops');
          writeMs = this.clock.now() - started;
          if (persist.hardState !== undefined) this.durableHardState = persist.hardState;
          item.written = true;
          this.performReady();
        };
        try {
          storage.submit(persist, done);
        } catch (error) {
          done(error ?? new Error('storage refused the batch'));
        }
      } else {
        this.performReady();
      }
      return;
    }
    // 1. Durable first.
    let writeMs = 0;
    if (persist !== undefined) {
      try {
        const started = this.clock.now();
        this.options.storage.write(persist);
        writeMs = this.clock.now() - started;
        if (persist.hardState !== undefined) this.durableHardState = persist.hardState;
      } catch (error) {
        // We cannot promise anything we have not stored: stop rather than send or answer.
        this.fail(error, 'storage write failed; the node stops');
        return;
      }
    }
    this.performWritten(persist, sends, announcements, applies, messages, writeMs);
  }

  /** Perform, in order, every batch whose write and every earlier one's are done (background storage). */
  private performReady(): void {
    // A batch performed here may end in a listener's stop({ flush: true }), which settles the
    // storage: the batches it completes are then written but not performed (the node stops when
    // the listener returns), as after a crash just after their writes — never performed inside
    // the batch running, out of order.
    if (this.draining) return;
    this.draining = true;
    try {
      while (!this.stopped && this.performing[0]?.written === true) (this.performing.shift() as { run: () => void }).run();
    } finally {
      this.draining = false;
    }
  }

  /** A batch that is on disk: its messages, then its announcements, applies and answers. */
  private performWritten(
    persist: PersistBatch<C> | undefined,
    sends: readonly { to: NodeId; message: RpcMessage<C> }[],
    announcements: readonly RaftEffect<C>[],
    applies: readonly (LogEntry<C> | Snapshot)[],
    messages: number,
    writeMs: number,
  ): void {
    if (persist?.snapshot !== undefined) this.snapshotWritten(persist.snapshot, writeMs);
    // 2. Then the messages that depend on it.
    this.send(sends);
    // 3. Then role changes (which fail proposals of a lost term), applies, answers. A listener may
    // stop the node meanwhile: then nothing more of this batch is performed, as after a crash.
    for (const effect of announcements) {
      if (this.stopped) return;
      this.announce(effect);
    }
    for (const item of applies) {
      if (this.stopped) return;
      if ('data' in item) this.restoreFrom(item);
      else this.applyEntry(item);
    }
    this.requests.serveReadyReads(this.appliedIndex, (query) => this.options.stateMachine.query(query as Q));
    if (this.snapshotDue()) this.takeSnapshot();
    this.scheduleTick();
    const entriesWritten = persist?.entries.length ?? 0;
    if (this.options.onBatch !== undefined && (entriesWritten > 0 || messages > 0 || applies.length > 0)) {
      try {
        this.options.onBatch({ entries: entriesWritten, messages, applied: applies.length, writeMs });
      } catch (error) {
        this.report(error, 'batch observer');
      }
    }
  }

  private announce(effect: RaftEffect<C>): void {
    switch (effect.type) {
      case 'roleChanged': {
        const lostOffice = this.role === 'leader' && (effect.role !== 'leader' || effect.term !== this.term);
        this.role = effect.role;
        this.term = effect.term;
        if (lostOffice) {
          const { commitIndex } = this.actor.getSnapshot().context;
          this.requests.abandonProposals(commitIndex);
          this.membership.abandon(commitIndex);
        }
        this.emitter.emit('role', { role: effect.role, term: effect.term });
        break;
      }
      case 'leaderChanged':
        if (effect.leaderId !== null) this.membership.leaderIs(effect.leaderId, effect.term);
        this.emitter.emit('leader', { leaderId: effect.leaderId, term: effect.term });
        break;
      case 'configChanged':
        this.emitter.emit('members', membership(effect.config, effect.index, this.actor.getSnapshot().context.commitIndex));
        break;
      case 'configChangeAccepted':
        this.membership.accepted(effect.requestId, effect.index, effect.term);
        break;
      case 'configChangeRejected':
        this.membership.rejected(effect.requestId, effect.reason, effect.detail, effect.leaderId);
        break;
      case 'transferStarted':
        this.membership.transferStarted(effect.requestId, effect.to);
        break;
      case 'transferEnded':
        this.membership.transferEnded(effect.requestId, effect.outcome, effect.detail, effect.leaderId);
        break;
      case 'proposalAccepted':
        this.requests.proposalsAccepted(effect.requestId, effect.entries);
        break;
      case 'proposalRejected':
        this.requests.proposalsRejected(effect.requestId, effect.leaderId, effect.reserved === true);
        break;
      case 'readReady':
        this.requests.readsReadyAt(effect.requestIds, effect.index);
        break;
      case 'readRejected':
        this.requests.readsRejected(effect.requestIds, effect.leaderId);
        break;
      case 'invariantViolation':
        this.report(new Error(`Raft invariant violated: ${effect.rule}: ${effect.detail}`), 'invariant');
        break;
      default:
        break;
    }
  }

  private applyEntry(entry: LogEntry<C>): void {
    if (entry.index !== this.appliedIndex + 1) {
      this.report(new Error(`apply out of order: ${entry.index} after ${this.appliedIndex}`), 'invariant');
      return;
    }
    this.appliedIndex = entry.index;
    const waiting = this.requests.takeProposalAt(entry.index);
    // A change waiting on this index is done, or was overwritten by another entry.
    this.membership.applied(entry.index, entry.term);
    if (isConfigCommand(entry.command)) {
      // Membership is Raft's, not the state machine's.
      if (waiting) this.requests.answerSuperseded(waiting);
      const { configs } = this.actor.getSnapshot().context;
      // Announced only if still the one in force (a later one may already be appended).
      if (configs[configs.length - 1]?.index === entry.index) this.emitter.emit('members', membership(entry.command, entry.index, entry.index));
      return;
    }
    if (isNoop(entry.command)) {
      if (waiting) this.requests.answerSuperseded(waiting);
      return;
    }
    let result: R;
    try {
      result = this.options.stateMachine.apply(entry.command, entry);
    } catch (error) {
      // A state machine must be deterministic; a throw is reported and the entry counts as applied
      // with no result, on every node alike.
      this.report(error, `state machine apply at index ${entry.index}`);
      result = undefined as R;
    }
    if (waiting !== undefined) this.requests.answerApplied(waiting, entry, result);
    this.emitter.emit('applied', { index: entry.index, term: entry.term, command: entry.command, result });
  }

  // ------------------------------------------------------------ replicated time

  /** The commands as the leader logs them: stamped with its wall clock by a state machine that keeps replicated time. */
  private stamped(commands: unknown[]): C[] {
    const { stateMachine } = this.options;
    if (typeof stateMachine.stamp !== 'function') return commands as C[];
    const now = this.wallNow();
    return commands.map((command) => (stateMachine.stamp as (c: C, n: number) => C)(command as C, now));
  }

  /**
   * On the leader of a state machine with deadlines: append its tick entry once the earliest is due,
   * so leases and claims expire in the log without client traffic. One tick at a time; after it is
   * applied (or fails) the next deadline is looked at again.
   */
  private scheduleTick(): void {
    const { stateMachine } = this.options;
    if (typeof stateMachine.nextDeadline !== 'function' || typeof stateMachine.tick !== 'function') return;
    // A tick in the log is in flight until applied, or until its term is over (then it may never be).
    if (this.tickInFlight !== undefined && (this.appliedIndex >= this.tickInFlight.index || this.term !== this.tickInFlight.term)) this.tickInFlight = undefined;
    if (this.stopped || this.role !== 'leader' || this.tickInFlight !== undefined) return this.cancelTick();
    const due = stateMachine.nextDeadline();
    if (due === undefined) return this.cancelTick();
    if (this.tickTimer?.at === due) return;
    this.cancelTick();
    this.tickTimer = { at: due, handle: this.clock.setTimeout(() => this.proposeTick(due), tickWait(due, this.wallNow())) };
  }

  private wallNow(): number {
    return this.clock.wallNow?.() ?? this.clock.now();
  }

  private cancelTick(): void {
    if (this.tickTimer === undefined) return;
    this.clock.clearTimeout(this.tickTimer.handle);
    this.tickTimer = undefined;
  }

  private proposeTick(due: number): void {
    this.tickTimer = undefined;
    const tick = this.options.stateMachine.tick;
    if (this.stopped || this.role !== 'leader' || tick === undefined) return;
    // Early (a timer capped at its longest, or a clock behind the stamps): a tick now would stamp
    // below `due` and expire nothing. Wait again instead.
    if (this.wallNow() < due) {
      this.tickTimer = { at: due, handle: this.clock.setTimeout(() => this.proposeTick(due), tickWait(due, this.wallNow())) };
      return;
    }
    // Appended at once (not queued for the batch): its index says when it has been applied.
    const appended = this.submit(tick.call(this.options.stateMachine) as C);
    if (appended.isLeader) this.tickInFlight = { index: appended.index, term: appended.term };
    this.scheduleFlush();
  }

  // ------------------------------------------------------------ snapshots

  /**
   * Snapshot the state machine at the last applied index and hand it to the machine, which
   * compacts its log and persists it with the next batch. snapshot() and the encoding are
   * synchronous: the state machine's state is exactly that index's now, and nothing is applied until
   * they return. On a storage that stages snapshots, the data is then written ahead a piece per turn
   * (stepSnapshotJob) and handed to the machine only once it is all on disk, so the batch that
   * records it is small; meanwhile the node serves with its old snapshot and its whole log.
   */
  private takeSnapshot(): void {
    const { stateMachine, storage } = this.options;
    if (typeof stateMachine.snapshot !== 'function' || typeof stateMachine.restore !== 'function' || storage.storesSnapshots !== true) return;
    // One at a time: the threshold and waiters are checked again when it is over.
    if (this.snapshotJob !== undefined || this.stopping) return;
    const index = this.appliedIndex;
    this.lastSnapshotAt = index; // also after a failure: try again after another threshold, not on every batch
    // Nothing applied past the latest snapshot (one installed from the leader may even be ahead):
    // there is nothing to take, and storage would refuse a snapshot that is not newer.
    if (index <= this.actor.getSnapshot().context.log.snapshotIndex) return;
    let data: string;
    const started = this.clock.now();
    try {
      // The snapshot carries the configuration at its index (committed there: it never changes).
      data = withConfigHeader(configAt(this.actor.getSnapshot().context.configs, index).config, encodeSnapshot(stateMachine.snapshot()));
    } catch (error) {
      this.report(error, `state machine snapshot at index ${index}`);
      this.rejectSnapshotWaiters(error);
      return;
    }
    if (storage.stageSnapshot === undefined) {
      this.takenSnapshot = { index, ms: this.clock.now() - started };
      this.actor.send({ type: 'snapshot.taken', index, data });
      return;
    }
    // Applied, so committed and still in the log: its term is known and never changes.
    const term = this.actor.getSnapshot().context.log.termAt(index) as Term;
    try {
      this.snapshotJob = new StagedSnapshotJob(index, data, storage.stageSnapshot(index, term, data), started);
    } catch (error) {
      this.snapshotJobFailed(error, index);
      return;
    }
    this.clock.defer(() => this.stepSnapshotJob());
  }

  /** One piece of the snapshot job per turn: write the next piece, hand it over once all is written, then tidy. */
  private stepSnapshotJob(): void {
    const job = this.snapshotJob;
    if (job === undefined || this.stopped) return;
    let more: boolean;
    try {
      more = job.step();
    } catch (error) {
      this.endSnapshotJob(job);
      this.snapshotJobFailed(error, job.index);
      return;
    }
    if (more) this.clock.defer(() => this.stepSnapshotJob());
    else if (job.phase === 'written') this.handOver(job);
    else this.endSnapshotJob(job);
  }

  /** All of it is on disk: hand it to the machine, which compacts and persists it (the batch names it: job.record). */
  private handOver(job: StagedSnapshotJob): void {
    // A newer snapshot may have come from the leader meanwhile: then this one is of no use.
    if (job.index > this.actor.getSnapshot().context.log.snapshotIndex) {
      job.phase = 'handed';
      this.actor.send({ type: 'snapshot.taken', index: job.index, data: job.data });
    }
    if (!job.batched) this.endSnapshotJob(job);
  }

  /** A clean stop stores the snapshot being written ahead: the rest of it now, then the batch that flips it in. */
  private storeSnapshotJobNow(): void {
    const job = this.snapshotJob;
    if (job === undefined || job.phase === 'tidying') return;
    try {
      while (job.phase === 'writing' && job.step());
    } catch (error) {
      this.endSnapshotJob(job);
      this.snapshotJobFailed(error, job.index);
      return;
    }
    if (job.phase === 'written') this.handOver(job);
    if (this.flushScheduled) this.flush();
  }

  /** The job is over (tidied, discarded or failed); a snapshot asked for or due meanwhile is taken next turn. */
  private endSnapshotJob(job: StagedSnapshotJob): void {
    job.staging.discard();
    if (this.snapshotJob === job) this.snapshotJob = undefined;
    this.clock.defer(() => {
      if (this.stopped || this.snapshotJob !== undefined) return;
      const { snapshotIndex } = this.actor.getSnapshot().context.log;
      if (this.snapshotDue() || this.snapshotWaiters.some((w) => w.index > snapshotIndex)) this.takeSnapshot();
    });
  }

  /** Whether snapshotThreshold entries were applied since the last snapshot was taken (or tried). */
  private snapshotDue(): boolean {
    return this.appliedIndex - this.lastSnapshotAt >= (this.options.snapshotThreshold ?? DEFAULT_SNAPSHOT_THRESHOLD);
  }

  /** A refused snapshot (say, text storage cannot keep) costs only this snapshot; a failing disk stops the node. */
  private snapshotJobFailed(error: unknown, index: LogIndex): void {
    const refused = error instanceof RangeError || (error as { code?: unknown } | undefined)?.code === 'storage_batch_invalid';
    if (!refused) {
      this.fail(error, 'writing a snapshot to storage failed; the node stops');
      return;
    }
    this.report(error, `storing the snapshot at index ${index}`);
    this.rejectSnapshotWaiters(error);
  }

  /** Replace the state machine's state by a snapshot (at start, or installed from the leader). */
  private restoreFrom(snapshot: Snapshot): void {
    const { stateMachine } = this.options;
    if (typeof stateMachine.restore !== 'function') {
      this.fail(
        new Error(`a snapshot at index ${snapshot.index} must be restored, but this state machine has no restore()`),
        'the state machine cannot restore a snapshot; the node stops',
      );
      return;
    }
    stateMachine.restore(decodeSnapshot(snapshot.data));
    this.appliedIndex = snapshot.index;
    this.lastSnapshotAt = snapshot.index;
  }

  private snapshotWritten(snapshot: SnapshotRecord, writeMs: number): void {
    const job = this.snapshotJob;
    if (job !== undefined && snapshot.staged === undefined && (job.phase === 'handed' || (job.phase === 'writing' && snapshot.index >= job.index))) {
      // Another snapshot (from the leader) was stored instead of, or past, the one being staged.
      this.endSnapshotJob(job);
    }
    const flipped = job !== undefined && snapshot.staged === job.staging.id ? job : undefined;
    const taken = this.takenSnapshot?.index === snapshot.index ? this.takenSnapshot : undefined;
    this.takenSnapshot = undefined;
    this.emitter.emit('snapshot', {
      index: snapshot.index,
      term: snapshot.term,
      bytes: flipped?.staging.bytes ?? Buffer.byteLength(snapshot.data, 'utf8'),
      ms: flipped !== undefined ? this.clock.now() - flipped.started : (taken?.ms ?? 0) + writeMs,
      source: taken !== undefined || flipped !== undefined ? 'taken' : 'installed',
    });
    if (flipped !== undefined) {
      // On disk: delete the snapshot it replaced, a piece per turn.
      flipped.phase = 'tidying';
      this.clock.defer(() => this.stepSnapshotJob());
    }
    const waiting = this.snapshotWaiters.filter((w) => w.index <= snapshot.index);
    this.snapshotWaiters = this.snapshotWaiters.filter((w) => w.index > snapshot.index);
    for (const w of waiting) w.resolve({ index: snapshot.index, term: snapshot.term });
  }

  private rejectSnapshotWaiters(error: unknown): void {
    const waiting = this.snapshotWaiters;
    this.snapshotWaiters = [];
    for (const w of waiting) w.reject(error);
  }

  /** Stop because something failed that the node cannot go on without; tell whoever hosts it. */
  private fail(error: unknown, reason: string): void {
    this.report(error, reason);
    this.stop();
    this.emitter.emit('failed', { error, reason });
  }

  private report(error: unknown, context: string): void {
    try {
      this.options.onError?.(error, context);
    } catch {
      // An error reporter that throws must not take the node down.
    }
    this.emitter.emit('error', { error, context });
  }
}

/**
 * The log's copy of a client's command (see ownCopy); Raft's own commands are refused.
 * @throws InvalidRequestError
 */
/**
 * Longest wait for a tick before looking at the wall clock again: a clock that is stepped forward
 * (or was far behind the stamps) is noticed within this, and no wait comes near the longest a Node
 * timer takes (2^31 − 1 ms; a longer one fires at once, which would flood the log with ticks).
 */
const TICK_RECHECK_MS = 1000;

/** How long to wait for `due` on the wall clock: at least 1 ms, at most TICK_RECHECK_MS. */
function tickWait(due: number, now: number): number {
  return Math.min(TICK_RECHECK_MS, Math.max(1, due - now));
}

function clientCommand<C>(proposed: C): C {
  if (isRaftCommand(proposed)) {
    throw new InvalidRequestError("commands of type raft.config and raft.noop are Raft's own: change the membership with addLearner, promote and removeServer");
  }
  return ownCopy(proposed);
}

function membership(config: Configuration, index: LogIndex, commitIndex: LogIndex): Membership {
  return {
    voters: [...config.voters],
    learners: [...config.learners],
    ...(config.addresses !== undefined ? { addresses: { ...config.addresses } } : {}),
    index,
    committed: index <= commitIndex,
  };
}
