/**
 * ConsensusProtocol: the seed's Python class, in TypeScript, working for real over one node actor.
 *
 * The actor (machines/raft-node.ts) is the truth. Every field is read from its current snapshot;
 * every method turns into one event sent to it, and the answer is read from the effects it emits
 * while it handles that event (the actor emits synchronously inside `actor.send`). Nothing here
 * decides a Raft rule: the class validates input at the edge (the zod schemas of
 * src/core/validate.ts), sends, and reports.
 *
 * Two ways to move messages between nodes:
 * - No network (the default): each method returns the messages the node sends (`Envelope`s:
 *   `{ to, message }`); deliver each to its recipient with `receive(envelope)`, which returns that
 *   node's answers, and hand those back to the sender with `receive` in turn.
 * - `options.network = new LocalNetwork()` shared by several instances: the same messages are
 *   delivered in-process, synchronously and deterministically, before the method returns. So
 *   `startElection()` comes back with the votes counted (and the node leader if it won), and
 *   `replicateLog()` comes back with the entry replicated and committed if a majority holds it.
 *
 * Timers: by default the actor's clock is a VirtualClock that never fires unless you advance it
 * (`protocol.clock`), so nothing happens between calls and every run is the same. Messages that a
 * timer makes the node send (an election timeout, a heartbeat) go to the network's queue — call
 * `network.flush()` — or, without a network, wait in `drainOutbox()`.
 *
 * The seed's snake_case names are kept as aliases of the same members (`cp.request_vote ===
 * cp.requestVote`); see SEED_ALIASES at the end of this file.
 */
import { createActor } from 'xstate';
import { z } from 'zod';
import { raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeActor } from '../machines/raft-node.js';
import { isMajority, majoritySize } from './core/quorum.js';
import type {
  AppendEntries,
  AppendEntriesResult,
  LogEntry,
  LogIndex,
  NodeId,
  RequestVote,
  RequestVoteResult,
  Role,
  RpcMessage,
  Term,
} from './core/types.js';
import { appendEntriesSchema, logEntrySchema, parseRpcMessage, requestVoteSchema } from './core/validate.js';
import { InvalidRequestError, NotElectedError, NotLeaderError, StoppedError } from './errors.js';
import { LocalNetwork, type Envelope } from './local-network.js';
import type { Clock } from './runtime/clock.js';
import { VirtualClock } from './sim/clock.js';

export { LocalNetwork, type Envelope } from './local-network.js';

/** The part of a clock the actor uses for its timers (xstate's `clock` option). */
export type ActorClock = Pick<Clock, 'setTimeout' | 'clearTimeout'>;

export interface ConsensusProtocolOptions {
  /** Deliver this node's messages in-process to the other instances attached to the same network. */
  network?: LocalNetwork;
  /** The actor's clock. Default: a new VirtualClock, which fires nothing until it is advanced. */
  clock?: ActorClock;
  /** [min, max] election timeout in ms, in clock time. Default [150, 300]. */
  electionTimeout?: readonly [number, number];
  /** Ask for pre-votes before an election (default false here: startElection goes straight to candidate). */
  preVote?: boolean;
  /** A leader steps down when it has not heard from a majority within an election timeout (default false here). */
  checkQuorum?: boolean;
  /** Heartbeat interval in ms, in clock time; must be below the minimum election timeout. Default 50. */
  heartbeatInterval?: number;
  /** Seed of the generator that draws election timeouts. Default: derived from the node id. */
  seed?: number;
  /** Most entries in one AppendEntries. Default 256. */
  maxEntriesPerMessage?: number;
}

/** The answer to RequestVote (Figure 2). */
export interface VoteReply {
  readonly term: Term;
  readonly voteGranted: boolean;
}

/** The answer to AppendEntries (Figure 2). */
export interface AppendReply {
  readonly term: Term;
  readonly success: boolean;
}

export interface ReplicateResult {
  /** The entry the leader appended. */
  readonly entry: LogEntry;
  /** The AppendEntries this call sent (already delivered when the node has a network). */
  readonly requests: readonly Envelope<AppendEntries>[];
  /** Whether the entry was committed by the time the call returned (only possible with a network, or alone). */
  readonly committed: boolean;
}

/** One response for isConsensusReached: a boolean, or a reply carrying `voteGranted` or `success`. */
export type ConsensusResponse =
  | boolean
  | { readonly voteGranted: boolean; readonly from?: NodeId }
  | { readonly success: boolean; readonly from?: NodeId };

export type ConsensusResponses =
  | readonly ConsensusResponse[]
  | ReadonlyMap<NodeId, ConsensusResponse>
  | Readonly<Record<NodeId, ConsensusResponse>>;

// ---------------------------------------------------------------- validation at the edge

const nodeIdSchema = z.string().min(1).max(256);
const positiveInt = z.number().int().positive();

const optionsSchema = z
  .strictObject({
    network: z.instanceof(LocalNetwork).optional(),
    clock: z
      .custom<ActorClock>(
        (c) =>
          typeof c === 'object' &&
          c !== null &&
          typeof (c as ActorClock).setTimeout === 'function' &&
          typeof (c as ActorClock).clearTimeout === 'function',
        { message: 'a clock needs setTimeout(fn, ms) and clearTimeout(handle)' },
      )
      .optional(),
    electionTimeout: z
      .tuple([positiveInt, positiveInt])
      .refine(([min, max]) => min <= max, { message: 'electionTimeout is [min, max] with min ≤ max' })
      .optional(),
    heartbeatInterval: positiveInt.optional(),
    seed: z.number().int().optional(),
    maxEntriesPerMessage: positiveInt.optional(),
    preVote: z.boolean().optional(),
    checkQuorum: z.boolean().optional(),
  })
  .refine((o) => (o.heartbeatInterval ?? 50) < (o.electionTimeout?.[0] ?? 150), {
    message: 'heartbeatInterval must be below the minimum election timeout, or followers start elections under a healthy leader',
  });

/** "path = value: message" for each failed path (the last, most specific issue of each). */
function describeIssues(error: z.ZodError, input: unknown): string {
  // A bad number fails both `nonnegative` and `min(1)`: keep the last, most specific issue of a kind per path.
  const byPathAndCode = new Map<string, string>();
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.');
    const value = valueAt(input, issue.path);
    byPathAndCode.set(`${path}\u0000${issue.code}`, `${path || 'value'}${value === undefined ? '' : ` = ${value}`}: ${issue.message}`);
  }
  return [...byPathAndCode.values()].join('; ');
}

/** The offending value, shown when it is a leaf (a whole options object would only be noise). */
function valueAt(input: unknown, path: readonly PropertyKey[]): string | undefined {
  if (path.length === 0) return undefined;
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  const isRecord = typeof value === 'object' && value !== null && !Array.isArray(value);
  return isRecord && path.length === 1 ? undefined : show(value);
}

function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === undefined) return 'undefined';
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function isEnvelope(input: unknown): input is { to: unknown; message: unknown } {
  return typeof input === 'object' && input !== null && 'to' in input && 'message' in input && !('type' in input);
}

/** An object with `command` and a `term` or `index` is a log entry; anything else is a command. */
function looksLikeEntry(input: unknown): input is Record<string, unknown> {
  return (
    typeof input === 'object' && input !== null && !Array.isArray(input) && 'command' in input && ('term' in input || 'index' in input)
  );
}

function sendsOf(effects: readonly RaftEffect[]): Envelope[] {
  const sends: Envelope[] = [];
  for (const effect of effects) if (effect.type === 'send') sends.push({ to: effect.to, message: effect.message });
  return sends;
}

function isEnvelopeOf<T extends RpcMessage['type']>(type: T) {
  return (envelope: Envelope): envelope is Envelope<Extract<RpcMessage, { type: T }>> => envelope.message.type === type;
}

// ---------------------------------------------------------------- the class

export class ConsensusProtocol {
  readonly #actor: RaftNodeActor;
  readonly #clock: ActorClock;
  readonly #network: LocalNetwork | undefined;
  /** The peers as given (the seed keeps them as passed; they may include this node). */
  readonly #peers: readonly NodeId[];
  readonly #allNodes: readonly NodeId[];
  /** Effects of the event being sent right now, or undefined between calls. */
  #capture: RaftEffect[] | undefined;
  /** Messages a timer made the node send while it had no network to hand them to. */
  #outbox: Envelope[] = [];
  #failure: { error: unknown } | undefined;
  #stopped = false;

  /**
   * @param nodeId this node's id
   * @param peers the nodes of the cluster; may or may not include `nodeId` (all nodes = both)
   * @throws InvalidRequestError for an empty or non-string id, a non-array `peers`, or a bad option
   */
  constructor(nodeId: NodeId, peers: readonly NodeId[], options: ConsensusProtocolOptions = {}) {
    const args = z.object({ nodeId: nodeIdSchema, peers: z.array(nodeIdSchema), options: optionsSchema }).safeParse({ nodeId, peers, options });
    if (!args.success) {
      throw new InvalidRequestError(`new ConsensusProtocol refused: ${describeIssues(args.error, { nodeId, peers, options })}`);
    }
    const { electionTimeout, heartbeatInterval, seed, maxEntriesPerMessage } = args.data.options;
    this.#peers = [...args.data.peers];
    this.#allNodes = [...new Set([...args.data.peers, args.data.nodeId])];
    this.#clock = options.clock ?? new VirtualClock();
    this.#network = options.network;

    this.#actor = createActor(raftNodeMachine, {
      clock: this.#clock,
      input: {
        id: args.data.nodeId,
        peers: this.#allNodes,
        ...(electionTimeout !== undefined ? { electionTimeout } : {}),
        ...(heartbeatInterval !== undefined ? { heartbeatInterval } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(maxEntriesPerMessage !== undefined ? { maxEntriesPerMessage } : {}),
        // The seed's start_election goes straight to candidate, and a leader keeps office until it
        // hears a higher term: the class drives elections by hand, so pre-vote and check-quorum
        // (on by default in createRaftNode) are off here unless asked for.
        preVote: options.preVote ?? false,
        checkQuorum: options.checkQuorum ?? false,
      },
    });
    // The listener must never throw into XState (it would rethrow on a timer and kill the process).
    this.#actor.on('*', (effect) => {
      if (this.#capture !== undefined) this.#capture.push(effect);
      else if (effect.type === 'send') this.#sendLater({ to: effect.to, message: effect.message });
    });
    // With an error observer, a failing transition is reported to us rather than thrown on a timer.
    this.#actor.subscribe({ error: (error) => void (this.#failure = { error }) });
    // What arrives from the network is checked at the edge like anything else (a node of another cluster may share it).
    this.#network?.attach(args.data.nodeId, { deliver: (message) => this.#accept(message) });
    this.#actor.start();
  }

  // -------------------------------------------------------------- state, read from the actor's snapshot

  /** The hosted node actor, for inspection and subscriptions (`actor.on('roleChanged', …)`). Send messages through the class. */
  get actor(): RaftNodeActor {
    return this.#actor;
  }

  /** The actor's clock; the default VirtualClock can be advanced to fire election and heartbeat timeouts. */
  get clock(): ActorClock {
    return this.#clock;
  }

  get network(): LocalNetwork | undefined {
    return this.#network;
  }

  get nodeId(): NodeId {
    return this.#context.id;
  }

  /** The peers as passed to the constructor. */
  get peers(): readonly NodeId[] {
    return [...this.#peers];
  }

  /** Every voter of the cluster: the peers and this node. */
  get allNodes(): readonly NodeId[] {
    return [...this.#allNodes];
  }

  get state(): Role {
    return this.#actor.getSnapshot().value as Role;
  }

  get currentTerm(): Term {
    return this.#context.currentTerm;
  }

  get votedFor(): NodeId | null {
    return this.#context.votedFor;
  }

  /**
   * A copy of the log, as `{ term, index, command }` objects, 1-based. A new leader's first entry
   * of its term is a no-op, `{ type: 'raft.noop' }` (Raft §8: it lets the leader commit).
   */
  get log(): LogEntry[] {
    return this.#context.log.toArray().map(({ term, index, command }) => ({ term, index, command }));
  }

  get commitIndex(): LogIndex {
    return this.#context.commitIndex;
  }

  get lastApplied(): LogIndex {
    return this.#context.lastApplied;
  }

  /** The leader of the current term as far as this node knows (itself when it leads), or null. */
  get leaderId(): NodeId | null {
    return this.#context.leaderId;
  }

  /** Candidate: the voters whose votes it holds this term, itself included. Empty in other roles. */
  get votes(): readonly NodeId[] {
    return [...this.#context.votes];
  }

  /** Leader: for each follower, the next log index to send it. Empty on a non-leader. */
  get nextIndex(): Readonly<Record<NodeId, LogIndex>> {
    return { ...this.#context.nextIndex };
  }

  /** Leader: for each follower, the highest index known to match the leader's log. Empty on a non-leader. */
  get matchIndex(): Readonly<Record<NodeId, LogIndex>> {
    return { ...this.#context.matchIndex };
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get #context() {
    return this.#actor.getSnapshot().context;
  }

  // -------------------------------------------------------------- the RPC receivers (Figure 2)

  /**
   * RequestVote receiver: grant iff `term` is not stale, this node has not voted for someone else
   * in `term`, and the candidate's log is at least as up to date (last term, then last index). A
   * higher term is adopted first. The reply goes to the caller (who carries this RPC), not the network.
   * @throws InvalidRequestError for a term or index that is not a non-negative integer (term ≥ 1),
   *   or a candidate that is not another node of this cluster; nothing changes.
   */
  requestVote(term: Term, candidateId: NodeId, lastLogIndex: LogIndex, lastLogTerm: Term): VoteReply {
    const what = 'requestVote refused, nothing changed';
    this.#assertOtherNode(candidateId, 'candidateId', what);
    const input = { type: 'rpc.requestVote', from: candidateId, term, candidateId, lastLogIndex, lastLogTerm } as const;
    const parsed = requestVoteSchema.safeParse(input);
    if (!parsed.success) throw new InvalidRequestError(`${what}: ${describeIssues(parsed.error, input)}`);
    const sends = this.#handle(parsed.data as RequestVote);
    const reply = sends.find((s) => s.to === candidateId && s.message.type === 'rpc.requestVoteResult')?.message as RequestVoteResult | undefined;
    if (reply === undefined) throw new Error(`internal: ${this.nodeId} did not answer RequestVote from ${candidateId}`);
    return { term: reply.term, voteGranted: reply.voteGranted };
  }

  /**
   * AppendEntries receiver: reject a stale term; reject unless the log holds `prevLogIndex` with
   * `prevLogTerm`; otherwise keep what matches, truncate only from the first conflicting entry,
   * append the rest (a duplicate never shortens the log) and set commitIndex to
   * min(leaderCommit, index of the last new entry). A heartbeat is `entries = []`. The reply goes
   * to the caller, not the network.
   * @throws InvalidRequestError for a bad number, a non-array `entries`, entries not numbered
   *   prevLogIndex+1, +2, … or with terms out of order, or a leader that is not another node of
   *   this cluster; also when the node refuses to act because a Raft rule would break (a second
   *   leader in its own term, truncating committed entries). Nothing changes in the log.
   */
  appendEntries(
    term: Term,
    leaderId: NodeId,
    prevLogIndex: LogIndex,
    prevLogTerm: Term,
    entries: readonly LogEntry[],
    leaderCommit: LogIndex,
  ): AppendReply {
    const what = 'appendEntries refused, nothing changed';
    this.#assertOtherNode(leaderId, 'leaderId', what);
    const input = { type: 'rpc.appendEntries', from: leaderId, term, leaderId, prevLogIndex, prevLogTerm, entries, leaderCommit, seq: 0 } as const;
    const parsed = appendEntriesSchema.safeParse(input);
    if (!parsed.success) throw new InvalidRequestError(`${what}: ${describeIssues(parsed.error, input)}`);
    // The parsed entries are fresh objects: the caller's array can change later without touching our log.
    const sends = this.#handle(parsed.data as AppendEntries);
    const reply = sends.find((s) => s.to === leaderId && s.message.type === 'rpc.appendEntriesResult')?.message as AppendEntriesResult | undefined;
    if (reply === undefined) throw new Error(`internal: ${this.nodeId} did not answer AppendEntries from ${leaderId}`);
    return { term: reply.term, success: reply.success };
  }

  // -------------------------------------------------------------- elections

  /**
   * Become candidate: term + 1, vote for itself, RequestVote to every other node (the election
   * timeout, sent now). Returns those requests. With a network they are delivered and the votes
   * counted before this returns: the node is leader if a majority granted. Without one, deliver
   * them with `receive` and give the replies back to this node with `receive`.
   * A candidate starts a new election (next term); a leader does not (its election timer is off),
   * so on a leader this changes nothing and returns [].
   */
  startElection(): Envelope<RequestVote>[] {
    const sends = this.#dispatch({ type: 'timeout.election' });
    this.#route(sends);
    return sends.filter(isEnvelopeOf('rpc.requestVote'));
  }

  /**
   * Confirm leadership. A node becomes leader only by winning a majority of votes, and the actor
   * takes office the moment it has them (nextIndex = last + 1 and matchIndex = 0 for every
   * follower, a no-op entry for its term). So this returns quietly on a leader and never fakes it.
   * @throws NotElectedError when the node is not leader after counting the votes it holds.
   */
  becomeLeader(): void {
    this.#assertRunning();
    const ctx = this.#context;
    const voters = this.#allNodes.length;
    const needed = majoritySize(voters);
    switch (this.state) {
      case 'leader':
        return;
      case 'candidate':
        throw new NotElectedError(
          `${ctx.id} is a candidate in term ${ctx.currentTerm} holding ${ctx.votes.length} of ${voters} votes ` +
            `(${ctx.votes.join(', ')}); it becomes leader only with a majority, ${needed}. ` +
            'Deliver its RequestVote requests and give the replies back with receive(), or use a LocalNetwork.',
        );
      case 'follower':
        throw new NotElectedError(
          `${ctx.id} is a follower in term ${ctx.currentTerm}` +
            `${ctx.leaderId !== null ? ` (the leader is ${ctx.leaderId})` : ''}; ` +
            `it becomes leader only by winning an election: call startElection() and win ${needed} of ${voters} votes.`,
        );
    }
  }

  // -------------------------------------------------------------- replication

  /**
   * Leader: append `{ term: currentTerm, index: last + 1, command }` and send it to the followers.
   * Pass a command, or a whole entry (an object with `command` and `term`/`index`), which must then
   * carry exactly the next index and the current term. With a network the entry is replicated
   * and, once a majority holds it, committed before this returns; followers learn the new commit
   * index with the next AppendEntries (the next replicateLog or heartbeat). A follower whose last
   * AppendEntries is still unanswered (the leader probes one message at a time until it knows where
   * their logs meet) gets the entry after it answers or with the next heartbeat, so `requests` may
   * leave it out.
   * @throws NotLeaderError on a follower or candidate, naming the leader when it is known.
   * @throws InvalidRequestError for an entry with the wrong index or term, or an undefined command.
   */
  replicateLog(entryOrCommand: unknown): ReplicateResult {
    const what = 'replicateLog refused, nothing changed';
    this.#assertRunning();
    let command = entryOrCommand;
    if (looksLikeEntry(entryOrCommand)) {
      const parsed = logEntrySchema.safeParse(entryOrCommand);
      if (!parsed.success) throw new InvalidRequestError(`${what}: entry ${describeIssues(parsed.error, entryOrCommand)}`);
      this.#assertLeader();
      const { currentTerm, log } = this.#context;
      if (parsed.data.index !== log.lastIndex + 1 || parsed.data.term !== currentTerm) {
        throw new InvalidRequestError(
          `${what}: the entry has term ${parsed.data.term} and index ${parsed.data.index}, but the leader's next entry ` +
            `is term ${currentTerm}, index ${log.lastIndex + 1}; pass the command alone to have them filled in`,
        );
      }
      command = parsed.data.command;
    } else {
      this.#assertLeader();
    }
    if (command === undefined) throw new InvalidRequestError(`${what}: the command is undefined`);

    const effects = this.#dispatchEffects({ type: 'client.propose', commands: [command] });
    for (const effect of effects) {
      if (effect.type === 'proposalRejected') throw new NotLeaderError(effect.leaderId ?? undefined);
    }
    const accepted = effects.find((e) => e.type === 'proposalAccepted');
    const entry = accepted?.type === 'proposalAccepted' ? accepted.entries[0] : undefined;
    if (entry === undefined) throw new Error(`internal: ${this.nodeId} neither accepted nor rejected the proposal`);
    const sends = sendsOf(effects);
    this.#route(sends);
    return {
      entry: { term: entry.term, index: entry.index, command: entry.command },
      requests: sends.filter(isEnvelopeOf('rpc.appendEntries')),
      committed: this.commitIndex >= entry.index,
    };
  }

  /**
   * Leader: send every follower an AppendEntries now (the heartbeat timeout, sent now) — what it
   * is missing, or nothing, with the leader's commit index. Returns the requests (delivered, with
   * a network). This is how followers learn a new commit index, and how a reconnected follower
   * is caught up.
   * @throws NotLeaderError on a follower or candidate.
   */
  heartbeat(): Envelope<AppendEntries>[] {
    this.#assertRunning();
    this.#assertLeader();
    const sends = this.#dispatch({ type: 'timeout.heartbeat' });
    this.#route(sends);
    return sends.filter(isEnvelopeOf('rpc.appendEntries'));
  }

  // -------------------------------------------------------------- messages in and out

  /**
   * Deliver one message to this node as its transport would: a request (RequestVote,
   * AppendEntries) or a reply (RequestVoteResult, AppendEntriesResult), bare or in an envelope
   * `{ to, message }` addressed to this node. Returns what the node sends in response; with a
   * network, these are also delivered before this returns.
   * @throws InvalidRequestError for a message that fails its schema, comes from a node outside
   *   the cluster (or from this node), is addressed to another node, or that the node refuses.
   */
  receive(input: RpcMessage | Envelope): Envelope[] {
    let message: unknown = input;
    if (isEnvelope(input)) {
      if (input.to !== this.nodeId) {
        throw new InvalidRequestError(`receive refused: the envelope is addressed to ${show(input.to)}, not to ${this.nodeId}`);
      }
      message = input.message;
    }
    const sends = this.#accept(message);
    this.#route(sends);
    return sends;
  }

  /** Messages a timer made this node send while it has no network (clock advanced by you); cleared on read. */
  drainOutbox(): Envelope[] {
    const out = this.#outbox;
    this.#outbox = [];
    return out;
  }

  // -------------------------------------------------------------- majority

  /**
   * The seed's majority rule, literally: `acceptances > allNodes / 2`, where allNodes counts this
   * node and its peers. `responses` may be an array of booleans or of `{ voteGranted }` /
   * `{ success }` replies, or a Map or object from node id to either.
   *
   * Only the given responses are counted: this node's own vote or acknowledgement is NOT added
   * implicitly. Include it when it should count (`[true, ...peerReplies]`, or an entry under this
   * node's id). (The actor itself counts its own vote and its own log when it decides an election
   * or a commit.) A node is counted once: replies with a `from`, and map keys, are deduplicated.
   * Terms are not looked at — hand replies to the node with `receive` for Raft's term rules.
   * @throws InvalidRequestError for a response of another shape, a node id outside the cluster,
   *   or more responses than there are nodes.
   */
  isConsensusReached(responses: ConsensusResponses): boolean {
    const what = 'isConsensusReached refused';
    const acceptedBy = new Set<NodeId>();
    const respondedBy = new Set<NodeId>();
    let anonymousResponses = 0;
    let anonymousAcceptances = 0;
    const count = (value: unknown, where: string, key?: NodeId): void => {
      const accepted = acceptanceOf(value, where, what);
      const from = typeof value === 'object' && value !== null && 'from' in value ? (value as { from: unknown }).from : undefined;
      if (key !== undefined && from !== undefined && from !== key) {
        throw new InvalidRequestError(`${what}: ${where} is a reply from ${show(from)}, filed under ${JSON.stringify(key)}`);
      }
      const id = key ?? from;
      if (id === undefined) {
        anonymousResponses++;
        if (accepted) anonymousAcceptances++;
        return;
      }
      if (typeof id !== 'string' || !this.#allNodes.includes(id)) {
        throw new InvalidRequestError(`${what}: ${where} names ${show(id)}, which is not a node of this cluster (${this.#allNodes.join(', ')})`);
      }
      respondedBy.add(id);
      if (accepted) acceptedBy.add(id);
    };

    if (Array.isArray(responses)) {
      (responses as readonly unknown[]).forEach((r, i) => count(r, `responses[${i}]`));
    } else if (responses instanceof Map) {
      for (const [key, value] of responses as ReadonlyMap<unknown, unknown>) {
        if (typeof key !== 'string') throw new InvalidRequestError(`${what}: map keys must be node ids, got ${show(key)}`);
        count(value, `responses.get(${JSON.stringify(key)})`, key);
      }
    } else if (typeof responses === 'object' && responses !== null) {
      for (const [key, value] of Object.entries(responses)) count(value, `responses[${JSON.stringify(key)}]`, key);
    } else {
      throw new InvalidRequestError(`${what}: responses must be an array, a Map or an object keyed by node id, got ${show(responses)}`);
    }

    const total = anonymousResponses + respondedBy.size;
    if (total > this.#allNodes.length) {
      throw new InvalidRequestError(`${what}: ${total} responses for a cluster of ${this.#allNodes.length} nodes`);
    }
    return isMajority(anonymousAcceptances + acceptedBy.size, this.#allNodes.length);
  }

  // -------------------------------------------------------------- lifecycle

  /** Stop the actor and leave the network. Fields keep their last values; methods then throw StoppedError. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#network?.detach(this.nodeId);
    this.#actor.stop();
  }

  // -------------------------------------------------------------- internals

  /** One message from outside (receive() or the network): parse it, check its sender, handle it. */
  #accept(message: unknown): Envelope[] {
    this.#assertRunning();
    const what = 'receive refused, nothing changed';
    const parsed = parseRpcMessage(message);
    if (!parsed.ok) throw new InvalidRequestError(`${what}: ${parsed.error}`);
    this.#assertOtherNode(parsed.message.from, 'from', what);
    this.#assertAnswersOurLog(parsed.message, what);
    return this.#handle(parsed.message);
  }

  /** Core of every incoming message, once validated: send it, refuse on a reported rule break, return the sends. */
  #handle(message: RpcMessage): Envelope[] {
    const effects = this.#dispatchEffects(message);
    for (const effect of effects) {
      if (effect.type === 'invariantViolation') {
        throw new InvalidRequestError(
          `${this.nodeId} refused ${message.type} from ${message.from}: it would break "${effect.rule}" (${effect.detail})`,
        );
      }
    }
    return sendsOf(effects);
  }

  #dispatch(event: RaftEvent): Envelope[] {
    return sendsOf(this.#dispatchEffects(event));
  }

  /** Send one event to the actor and return every effect it emitted while handling it. */
  #dispatchEffects(event: RaftEvent): RaftEffect[] {
    this.#assertRunning();
    const captured: RaftEffect[] = [];
    this.#capture = captured;
    try {
      this.#actor.send(event);
    } finally {
      this.#capture = undefined;
    }
    if (this.#failure !== undefined) {
      // A transition threw: the actor is dead. Leave the network and surface the error itself.
      this.#stopped = true;
      this.#network?.detach(this.nodeId);
      throw this.#failure.error;
    }
    return captured;
  }

  /** Hand messages this call produced to the network and deliver everything they cause. */
  #route(sends: readonly Envelope[]): void {
    if (this.#network === undefined || sends.length === 0) return;
    this.#network.post(this.nodeId, sends);
    this.#network.flush();
  }

  /** A message a timer made the node send, outside any call: queue it; never throw into XState. */
  #sendLater(envelope: Envelope): void {
    try {
      if (this.#network !== undefined) this.#network.post(this.nodeId, [envelope]);
      else this.#outbox.push(envelope);
    } catch {
      // post() only queues; nothing to recover. Raft tolerates a lost message.
    }
  }

  #assertRunning(): void {
    if (!this.#stopped) return;
    throw this.#failure !== undefined
      ? new StoppedError(`node ${this.nodeId} stopped after its actor failed: ${String(this.#failure.error)}`)
      : new StoppedError(`node ${this.nodeId} was stopped`);
  }

  /**
   * A leader never shortens its log within its term, so an honest reply of its term speaks only of
   * indexes it has. The machine trusts matchIndex and rejectedIndex; one past the end (corrupt or
   * forged) would count a replica that does not exist and wedge that follower's nextIndex past the
   * log for good. Refuse it here, at the edge.
   */
  #assertAnswersOurLog(message: RpcMessage, what: string): void {
    if (message.type !== 'rpc.appendEntriesResult' || this.state !== 'leader') return;
    const { currentTerm, log } = this.#context;
    const claimed = Math.max(message.matchIndex, message.rejectedIndex);
    if (message.term === currentTerm && claimed > log.lastIndex) {
      throw new InvalidRequestError(
        `${what}: ${message.from} answers about index ${claimed}, but this leader's log ends at ${log.lastIndex}; ` +
          `no AppendEntries of term ${currentTerm} can have asked about it`,
      );
    }
  }

  #assertLeader(): void {
    if (this.state !== 'leader') throw new NotLeaderError(this.leaderId ?? undefined);
  }

  #assertOtherNode(id: unknown, field: string, what: string): void {
    if (typeof id !== 'string' || !this.#allNodes.includes(id)) {
      throw new InvalidRequestError(`${what}: ${field} = ${show(id)} is not a node of this cluster (${this.#allNodes.join(', ')})`);
    }
    if (id === this.#context.id) {
      throw new InvalidRequestError(`${what}: ${field} is this node itself (${id}); a node sends RPCs only to other nodes`);
    }
  }
}

function acceptanceOf(value: unknown, where: string, what: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'object' && value !== null) {
    const { voteGranted, success } = value as { voteGranted?: unknown; success?: unknown };
    if (typeof voteGranted === 'boolean' && success === undefined) return voteGranted;
    if (typeof success === 'boolean' && voteGranted === undefined) return success;
  }
  throw new InvalidRequestError(`${what}: ${where} must be a boolean, a { voteGranted } reply or a { success } reply, got ${show(value)}`);
}

// ---------------------------------------------------------------- the seed's names

/** The seed's snake_case names: aliases of the same members (the same functions and getters). */
export interface ConsensusProtocol {
  readonly node_id: NodeId;
  readonly current_term: Term;
  readonly voted_for: NodeId | null;
  readonly commit_index: LogIndex;
  readonly last_applied: LogIndex;
  request_vote: ConsensusProtocol['requestVote'];
  append_entries: ConsensusProtocol['appendEntries'];
  start_election: ConsensusProtocol['startElection'];
  become_leader: ConsensusProtocol['becomeLeader'];
  replicate_log: ConsensusProtocol['replicateLog'];
  is_consensus_reached: ConsensusProtocol['isConsensusReached'];
}

export const SEED_ALIASES = {
  node_id: 'nodeId',
  current_term: 'currentTerm',
  voted_for: 'votedFor',
  commit_index: 'commitIndex',
  last_applied: 'lastApplied',
  request_vote: 'requestVote',
  append_entries: 'appendEntries',
  start_election: 'startElection',
  become_leader: 'becomeLeader',
  replicate_log: 'replicateLog',
  is_consensus_reached: 'isConsensusReached',
} as const satisfies Record<string, keyof ConsensusProtocol>;

for (const [alias, name] of Object.entries(SEED_ALIASES)) {
  const descriptor = Object.getOwnPropertyDescriptor(ConsensusProtocol.prototype, name);
  if (descriptor === undefined) throw new Error(`internal: ConsensusProtocol has no member ${name} to alias as ${alias}`);
  Object.defineProperty(ConsensusProtocol.prototype, alias, descriptor);
}
