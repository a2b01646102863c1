/**
 * RaftNode: the one host for every node. It starts a `raftNodeMachine` actor from what storage
 * holds and performs what the machine emits, batched per turn of the event loop (in the
 * simulator: per step), in the durability order:
 *
 *   1. write the batch's hard state and entries to storage (one atomic write, one fsync);
 *   2. hand the batch's messages to the transport;
 *   3. apply newly committed entries to the state machine, answer waiting proposals and reads.
 *
 * So no reply leaves and no client is answered before what it depends on is on disk. The leader
 * counts itself toward a quorum only through `apply`/commit decisions made after its own write,
 * because acknowledgements that could commit an entry arrive only after the batch that carried it.
 */
import { createActor } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftNodeActor } from '../../machines/raft-node.js';
import { isNoop, type LogEntry, type LogIndex, type NodeId, type Role, type RpcMessage, type Term } from '../core/types.js';
import { parseRpcMessage } from '../core/validate.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError, StoppedError } from '../errors.js';
import type { StateMachine } from '../state-machine.js';
import { BatchBuilder, type Storage } from '../storage/storage.js';
import type { ClientRequest, ClientResponse, Transport } from '../transport/transport.js';
import { systemClock, type Clock } from './clock.js';
import { Emitter } from './emitter.js';

export interface RaftNodeOptions<C = unknown, R = unknown, Q = unknown, QR = unknown> {
  id: NodeId;
  /** Every voter of the cluster (may include `id`). */
  peers: readonly NodeId[];
  transport: Transport;
  storage: Storage<C>;
  stateMachine: StateMachine<C, R, Q, QR>;
  clock?: Clock;
  /** Seed for the election-timeout generator. */
  random?: number;
  electionTimeout?: readonly [number, number];
  heartbeatInterval?: number;
  maxEntriesPerMessage?: number;
  /** Most bytes of entries in one AppendEntries (keep it under the transport's body limit). Default 1 MiB. */
  maxBytesPerMessage?: number;
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
};

interface Deferred<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface WaitingProposal<R> extends Deferred<ProposeResult<R>> {
  command: unknown;
  index?: LogIndex;
  term?: Term;
  timer?: unknown;
}

interface WaitingRead<QR> extends Deferred<QR> {
  query: unknown;
}

export interface RaftNode<C = unknown, R = unknown, Q = unknown, QR = unknown> {
  readonly id: NodeId;
  propose(command: C): Promise<ProposeResult<R>>;
  /**
   * Like Raft's Start(): if this node leads, append `command` now and return its index and term
   * at once; nobody is told when (or whether) it commits — watch `applied`. Not forwarded.
   */
  submit(command: C): { index: LogIndex; term: Term; isLeader: boolean };
  read(query: Q): Promise<QR>;
  status(): NodeStatus;
  on<K extends keyof RaftNodeEvents<C, R>>(event: K, listener: (payload: RaftNodeEvents<C, R>[K]) => void): () => void;
  /** The node's actor, for inspection and embedding (do not send it events behind the runtime's back). */
  readonly actor: RaftNodeActor;
  /** Entries in the node's log (a copy). */
  log(): LogEntry<C>[];
  /** Stop the node; `{ flush: true }` first performs the batch being gathered (clean shutdown). */
  stop(options?: { flush?: boolean }): void;
  readonly stopped: boolean;
}

export function createRaftNode<C = unknown, R = unknown, Q = unknown, QR = unknown>(
  options: RaftNodeOptions<C, R, Q, QR>,
): RaftNode<C, R, Q, QR> {
  return new RaftNodeRuntime(options);
}

/**
 * The log keeps its own frozen copy of a command: the caller may change its object afterwards, and
 * every replica — those that got the entry at once and those that catch up later from the
 * leader's memory — must apply the same value.
 */
function ownCopy<C>(command: C): C {
  if (typeof command !== 'object' || command === null) return command;
  let copy: C;
  try {
    copy = structuredClone(command);
  } catch (error) {
    throw new InvalidRequestError(`a command must be plain data (${(error as Error).message})`);
  }
  return deepFreeze(copy);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

class RaftNodeRuntime<C, R, Q, QR> implements RaftNode<C, R, Q, QR> {
  readonly id: NodeId;
  readonly actor: RaftNodeActor;
  private readonly clock: Clock;
  private readonly peers: ReadonlySet<NodeId>;
  private readonly emitter = new Emitter<RaftNodeEvents<C, R>>((error, event) => this.report(error, `listener for '${String(event)}'`));

  // The batch being gathered in this turn.
  private readonly persist = new BatchBuilder<C>();
  private sends: { to: NodeId; message: RpcMessage<C> }[] = [];
  private applies: LogEntry<C>[] = [];
  private announcements: RaftEffect<C>[] = [];
  private flushScheduled = false;

  // Requests waiting for the machine or for apply.
  private queuedProposals: WaitingProposal<R>[] = [];
  private readonly proposalsByRequest = new Map<string, WaitingProposal<R>[]>();
  private readonly proposalsByIndex = new Map<LogIndex, WaitingProposal<R>>();
  private queuedReads: WaitingRead<QR>[] = [];
  private readonly readsByRequest = new Map<string, WaitingRead<QR>>();
  private readonly readsReady: { index: LogIndex; reads: WaitingRead<QR>[] }[] = [];
  private nextRequest = 1;

  private appliedIndex: LogIndex = 0;
  private role: Role = 'follower';
  private term: Term;
  stopped = false;

  constructor(private readonly options: RaftNodeOptions<C, R, Q, QR>) {
    this.id = options.id;
    this.clock = options.clock ?? systemClock;
    this.peers = new Set(options.peers.filter((peer) => peer !== options.id));
    const persisted = options.storage.load();
    this.term = persisted.hardState.currentTerm;
    this.actor = createActor(options.machine ?? raftNodeMachine, {
      input: {
        id: options.id,
        peers: options.peers,
        ...(options.electionTimeout ? { electionTimeout: options.electionTimeout } : {}),
        ...(options.heartbeatInterval ? { heartbeatInterval: options.heartbeatInterval } : {}),
        ...(options.maxEntriesPerMessage ? { maxEntriesPerMessage: options.maxEntriesPerMessage } : {}),
        ...(options.maxBytesPerMessage ? { maxBytesPerMessage: options.maxBytesPerMessage } : {}),
        ...(options.random !== undefined ? { seed: options.random } : {}),
        persisted: { currentTerm: persisted.hardState.currentTerm, votedFor: persisted.hardState.votedFor, log: persisted.entries },
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
    this.scheduleFlush();
  }

  // ------------------------------------------------------------ public API

  propose(proposed: C): Promise<ProposeResult<R>> {
    if (this.stopped) return Promise.reject(new StoppedError());
    let command: C;
    try {
      command = ownCopy(proposed);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.actor.getSnapshot().value !== 'leader') return this.forwardOrReject<ProposeResult<R>>({ type: 'propose', command });
    return new Promise<ProposeResult<R>>((resolve, reject) => {
      const waiting: WaitingProposal<R> = { command, resolve, reject };
      const timeout = this.options.proposalTimeout ?? 10_000;
      waiting.timer = this.clock.setTimeout(() => {
        this.forgetProposal(waiting);
        reject(new OutcomeUnknownError(`the proposal was not applied within ${timeout} ms`));
      }, timeout);
      this.queuedProposals.push(waiting);
      this.scheduleFlush();
    });
  }

  submit(proposed: C): { index: LogIndex; term: Term; isLeader: boolean } {
    const before = this.actor.getSnapshot();
    if (this.stopped || before.value !== 'leader') return { index: -1, term: before.context.currentTerm, isLeader: false };
    const command = ownCopy(proposed);
    this.actor.send({ type: 'client.propose', commands: [command] });
    const { context } = this.actor.getSnapshot();
    const last = context.log.entry(context.log.lastIndex);
    if (last === undefined || last.command !== command) return { index: -1, term: context.currentTerm, isLeader: false };
    return { index: last.index, term: last.term, isLeader: true };
  }

  read(query: Q): Promise<QR> {
    if (this.stopped) return Promise.reject(new StoppedError());
    if (this.actor.getSnapshot().value !== 'leader') return this.forwardOrReject<QR>({ type: 'read', query });
    return new Promise<QR>((resolve, reject) => {
      const timeout = this.options.readTimeout ?? 10_000;
      const timer = this.clock.setTimeout(() => {
        this.forgetRead(waiting);
        reject(new ReadTimeoutError(timeout));
      }, timeout);
      const settle = () => this.clock.clearTimeout(timer);
      const waiting: WaitingRead<QR> = {
        query,
        resolve: (value) => (settle(), resolve(value)),
        reject: (error) => (settle(), reject(error)),
      };
      this.queuedReads.push(waiting);
      this.scheduleFlush();
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
    };
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
    if (options.flush && this.flushScheduled) this.flush();
    this.stopped = true;
    this.actor.stop();
    this.options.transport.stop();
    // A proposal still queued never reached the log: nothing happened. One the machine has taken
    // may already be on a majority and commit without us: its outcome is unknown.
    const error = new StoppedError('the node stopped before the request finished; it never reached the log');
    const inLog = new OutcomeUnknownError('the node stopped after the proposal entered its log');
    for (const p of this.queuedProposals) this.settleProposal(p, undefined, error);
    for (const p of this.allWaitingProposals()) this.settleProposal(p, undefined, inLog);
    for (const r of [...this.queuedReads, ...this.readsByRequest.values(), ...this.readsReady.flatMap((b) => b.reads)]) r.reject(error);
    this.queuedReads = [];
    this.readsByRequest.clear();
    this.readsReady.length = 0;
  }

  // ------------------------------------------------------------ inbound

  private receive(raw: unknown): void {
    if (this.stopped) return;
    const parsed = parseRpcMessage(raw);
    if (!parsed.ok) return this.report(new InvalidRequestError(parsed.error), 'rejected a malformed message');
    if (!this.peers.has(parsed.message.from)) {
      return this.report(new InvalidRequestError(`message from unknown node ${JSON.stringify(parsed.message.from)}`), 'rejected a message');
    }
    this.actor.send(parsed.message);
  }

  private async serveForwarded(request: ClientRequest): Promise<ClientResponse> {
    try {
      if (this.actor.getSnapshot().value !== 'leader') throw new NotLeaderError(this.actor.getSnapshot().context.leaderId ?? undefined);
      const value = request.type === 'propose' ? await this.propose(request.command as C) : await this.read(request.query as Q);
      return { ok: true, value };
    } catch (error) {
      const e = error instanceof RaftError ? error : new OutcomeUnknownError(String(error));
      return { ok: false, error: { code: e.code, message: e.message, ...(e instanceof NotLeaderError && e.leaderId ? { leaderId: e.leaderId } : {}) } };
    }
  }

  private async forwardOrReject<T>(request: ClientRequest): Promise<T> {
    const leader = this.actor.getSnapshot().context.leaderId;
    if (leader === null || leader === this.id || this.options.forwardToLeader === false) {
      throw new NotLeaderError(leader ?? undefined, leader ? this.options.transport.addressOf?.(leader) : undefined);
    }
    let response: ClientResponse;
    try {
      response = await this.options.transport.request(leader, request);
    } catch (error) {
      if (request.type === 'read') throw new NotLeaderError(undefined);
      throw new OutcomeUnknownError(`forwarding to leader ${leader} failed (${(error as Error).message})`);
    }
    if (response.ok) return response.value as T;
    const { code, message, leaderId } = response.error;
    if (code === 'not_leader') throw new NotLeaderError(leaderId, leaderId ? this.options.transport.addressOf?.(leaderId) : undefined);
    if (code === 'invalid_request') throw new InvalidRequestError(message);
    // Anything else from the leader (it stopped, it timed out, …): a write may or may not have
    // happened; a read had no effect and may be retried.
    if (request.type === 'read') throw new ReadTimeoutError(-1, `the leader could not serve the read (${code}: ${message})`);
    throw new OutcomeUnknownError(`the leader could not finish the proposal (${code}: ${message})`);
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
        this.persist.add(effect);
        break;
      case 'send':
        this.sends.push({ to: effect.to, message: effect.message });
        break;
      case 'apply':
        for (const entry of effect.entries) this.applies.push(entry);
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
    // Requests gathered during this turn enter the machine as one event each: one batch.
    if (this.queuedProposals.length > 0) this.submitProposals();
    if (this.queuedReads.length > 0) this.submitReads();

    // 1. Durable first.
    let entriesWritten = 0;
    let writeMs = 0;
    if (!this.persist.empty) {
      try {
        const batch = this.persist.take();
        entriesWritten = batch.entries.length;
        const started = this.clock.now();
        this.options.storage.write(batch);
        writeMs = this.clock.now() - started;
      } catch (error) {
        // We cannot promise anything we have not stored: stop rather than send or answer.
        this.fail(error, 'storage write failed; the node stops');
        return;
      }
    }
    // 2. Then the messages that depend on it.
    const sends = this.sends;
    this.sends = [];
    for (const { to, message } of sends) {
      try {
        this.options.transport.send(to, message);
      } catch (error) {
        this.report(error, `transport send to ${to}`);
      }
    }
    // 3. Then role changes (which fail proposals of a lost term), applies, answers.
    const announcements = this.announcements;
    this.announcements = [];
    for (const effect of announcements) this.announce(effect);
    const applies = this.applies;
    this.applies = [];
    for (const entry of applies) this.applyEntry(entry);
    this.serveReadyReads();
    if (this.options.onBatch !== undefined && (entriesWritten > 0 || sends.length > 0 || applies.length > 0)) {
      try {
        this.options.onBatch({ entries: entriesWritten, messages: sends.length, applied: applies.length, writeMs });
      } catch (error) {
        this.report(error, 'batch observer');
      }
    }
  }

  private submitProposals(): void {
    const proposals = this.queuedProposals;
    this.queuedProposals = [];
    const requestId = `p${this.nextRequest++}`;
    this.proposalsByRequest.set(requestId, proposals);
    this.actor.send({ type: 'client.propose', commands: proposals.map((p) => p.command), requestId });
  }

  private submitReads(): void {
    const reads = this.queuedReads;
    this.queuedReads = [];
    const requestIds = reads.map((read) => {
      const requestId = `r${this.nextRequest++}`;
      this.readsByRequest.set(requestId, read);
      return requestId;
    });
    this.actor.send({ type: 'client.read', requestIds });
  }

  private announce(effect: RaftEffect<C>): void {
    switch (effect.type) {
      case 'roleChanged': {
        const lostOffice = this.role === 'leader' && (effect.role !== 'leader' || effect.term !== this.term);
        this.role = effect.role;
        this.term = effect.term;
        if (lostOffice) this.abandonProposals();
        this.emitter.emit('role', { role: effect.role, term: effect.term });
        break;
      }
      case 'leaderChanged':
        this.emitter.emit('leader', { leaderId: effect.leaderId, term: effect.term });
        break;
      case 'proposalAccepted': {
        const proposals = effect.requestId !== undefined ? this.proposalsByRequest.get(effect.requestId) : undefined;
        if (proposals === undefined) break;
        this.proposalsByRequest.delete(effect.requestId as string);
        effect.entries.forEach((entry, i) => {
          const p = proposals[i];
          if (p === undefined) return;
          p.index = entry.index;
          p.term = entry.term;
          this.proposalsByIndex.set(entry.index, p);
        });
        break;
      }
      case 'proposalRejected': {
        const proposals = effect.requestId !== undefined ? this.proposalsByRequest.get(effect.requestId) : undefined;
        if (proposals === undefined) break;
        this.proposalsByRequest.delete(effect.requestId as string);
        const error = new NotLeaderError(effect.leaderId ?? undefined);
        for (const p of proposals) this.settleProposal(p, undefined, error);
        break;
      }
      case 'readReady': {
        const reads = effect.requestIds.flatMap((id) => this.takeRead(id));
        if (reads.length > 0) this.readsReady.push({ index: effect.index, reads });
        break;
      }
      case 'readRejected': {
        const error = new NotLeaderError(effect.leaderId ?? undefined);
        for (const read of effect.requestIds.flatMap((id) => this.takeRead(id))) read.reject(error);
        break;
      }
      case 'invariantViolation':
        this.report(new Error(`Raft invariant violated: ${effect.rule}: ${effect.detail}`), 'invariant');
        break;
      default:
        break;
    }
  }

  private forgetRead(read: WaitingRead<QR>): void {
    this.queuedReads = this.queuedReads.filter((r) => r !== read);
    for (const [id, r] of this.readsByRequest) if (r === read) this.readsByRequest.delete(id);
  }

  private takeRead(requestId: string): WaitingRead<QR>[] {
    const read = this.readsByRequest.get(requestId);
    if (read === undefined) return [];
    this.readsByRequest.delete(requestId);
    return [read];
  }

  private applyEntry(entry: LogEntry<C>): void {
    if (entry.index !== this.appliedIndex + 1) {
      this.report(new Error(`apply out of order: ${entry.index} after ${this.appliedIndex}`), 'invariant');
      return;
    }
    this.appliedIndex = entry.index;
    const waiting = this.proposalsByIndex.get(entry.index);
    if (waiting !== undefined) this.proposalsByIndex.delete(entry.index);
    if (isNoop(entry.command)) {
      if (waiting) this.settleProposal(waiting, undefined, new OutcomeUnknownError('another entry was committed at the proposal\'s index'));
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
    if (waiting !== undefined) {
      if (waiting.term === entry.term) this.settleProposal(waiting, { index: entry.index, term: entry.term, result });
      else this.settleProposal(waiting, undefined, new OutcomeUnknownError('another entry was committed at the proposal\'s index'));
    }
    this.emitter.emit('applied', { index: entry.index, term: entry.term, command: entry.command, result });
  }

  private serveReadyReads(): void {
    while (this.readsReady.length > 0 && (this.readsReady[0]?.index ?? Infinity) <= this.appliedIndex) {
      const batch = this.readsReady.shift() as { reads: WaitingRead<QR>[] };
      for (const read of batch.reads) {
        try {
          read.resolve(this.options.stateMachine.query(read.query as Q));
        } catch (error) {
          read.reject(error);
        }
      }
    }
  }

  // ------------------------------------------------------------ proposals

  private allWaitingProposals(): WaitingProposal<R>[] {
    return [...this.queuedProposals, ...[...this.proposalsByRequest.values()].flat(), ...this.proposalsByIndex.values()];
  }

  /** Leadership lost before commit: we cannot know whether the entries will survive. */
  private abandonProposals(): void {
    const error = new OutcomeUnknownError('the leader lost office before the proposal was committed');
    for (const p of this.allWaitingProposals()) this.settleProposal(p, undefined, error);
  }

  private forgetProposal(p: WaitingProposal<R>): void {
    this.queuedProposals = this.queuedProposals.filter((q) => q !== p);
    if (p.index !== undefined && this.proposalsByIndex.get(p.index) === p) this.proposalsByIndex.delete(p.index);
    for (const [id, list] of this.proposalsByRequest) {
      const rest = list.filter((q) => q !== p);
      if (rest.length !== list.length) this.proposalsByRequest.set(id, rest);
    }
  }

  /** Answer a proposal exactly once. */
  private settleProposal(p: WaitingProposal<R>, value: ProposeResult<R> | undefined, error?: unknown): void {
    this.forgetProposal(p);
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    if (error !== undefined) p.reject(error);
    else p.resolve(value as ProposeResult<R>);
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
