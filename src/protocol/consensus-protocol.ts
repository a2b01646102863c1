/**
 * The ConsensusProtocol class: the seed's Python class, in TypeScript, over one node actor (see
 * src/protocol.ts for how it moves messages and keeps time). Every field is read from the actor's
 * snapshot; every method checks its input at the edge (./validation.ts), turns into one event sent
 * through the ActorHost (./actor-host.ts), and reports what the actor emitted. No Raft rule here.
 */
import { isRaftCommand } from '../core/configuration.js';
import type { RaftEvent, RaftNodeActor } from '../../machines/raft-node.js';
import { majoritySize } from '../core/quorum.js';
import type { AppendEntries, AppendEntriesResult, LogEntry, LogIndex, NodeId, RequestVote, RequestVoteResult, Role, RpcMessage, Term } from '../core/types.js';
import { appendEntriesSchema, logEntrySchema, parseRpcMessage, requestVoteSchema } from '../core/validate.js';
import { InvalidRequestError, NotElectedError, NotLeaderError } from '../errors.js';
import type { Envelope, LocalNetwork } from '../local-network.js';
import { VirtualClock } from '../sim/clock.js';
import { ActorHost, isEnvelopeOf, sendsOf } from './actor-host.js';
import { installSeedAliases, type SeedAliasMembers } from './aliases.js';
import { consensusReached, voteEvidenceOf, type ConsensusResponses } from './consensus.js';
import type { ActorClock, AppendReply, ConsensusProtocolOptions, ReplicateResult, VoteReply } from './types.js';
import {
  assertAnswersOurLog,
  assertNextEntry,
  assertOtherNode,
  isEnvelope,
  jsonEntries,
  jsonCommand,
  looksLikeEntry,
  parseAtEdge,
  parseConstructorArgs,
  show,
} from './validation.js';

export class ConsensusProtocol {
  readonly #host: ActorHost;
  /** The peers as given (the seed keeps them as passed; they may include this node). */
  readonly #peers: readonly NodeId[];
  readonly #allNodes: readonly NodeId[];
  /**
   * Granted votes the caller showed this candidate (isConsensusReached or becomeLeader replies),
   * not yet handed to its actor, and whether it was shown booleans, which cannot say who voted.
   * Only the current term's are kept: a vote of another term is of another election.
   */
  #evidence: { term: Term; voters: Set<NodeId>; anonymous: boolean } | undefined;

  /**
   * @param nodeId this node's id
   * @param peers the nodes of the cluster; may or may not include `nodeId` (all nodes = both)
   * @throws InvalidRequestError for an empty or non-string id, a non-array `peers`, or a bad option
   */
  constructor(nodeId: NodeId, peers: readonly NodeId[], options: ConsensusProtocolOptions = {}) {
    const args = parseConstructorArgs(nodeId, peers, options);
    const { electionTimeout, heartbeatInterval, seed, maxEntriesPerMessage } = args.options;
    this.#peers = [...args.peers];
    this.#allNodes = [...new Set([...args.peers, args.nodeId])];
    const input = {
      id: args.nodeId,
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
    };
    // What arrives from the network is checked at the edge like anything else (a node of another cluster may share it).
    this.#host = new ActorHost(input, options.clock ?? new VirtualClock(), options.network, (message) => this.#accept(message));
  }

  // -------------------------------------------------------------- state, read from the actor's snapshot

  /** The hosted node actor, for inspection and subscriptions (`actor.on('roleChanged', …)`). Send messages through the class. */
  get actor(): RaftNodeActor {
    return this.#host.actor;
  }

  /** The actor's clock; the default VirtualClock can be advanced to fire election and heartbeat timeouts. */
  get clock(): ActorClock {
    return this.#host.clock;
  }

  get network(): LocalNetwork | undefined {
    return this.#host.network;
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

  /**
   * The seed's three states. A pre-candidate (with `preVote`) has not started an election: it has
   * not raised its term nor voted, so it reads as `'follower'` here; `role` tells them apart.
   */
  get state(): 'follower' | 'candidate' | 'leader' {
    const role = this.role;
    return role === 'preCandidate' ? 'follower' : role;
  }

  /** The chart's role, pre-candidate included. */
  get role(): Role {
    return this.#host.actor.getSnapshot().value as Role;
  }

  get currentTerm(): Term {
    return this.#context.currentTerm;
  }

  get votedFor(): NodeId | null {
    return this.#context.votedFor;
  }

  /**
   * A copy of the log, as `{ term, index, command }` objects, 1-based. A new leader's first entry
   * of its term is a no-op, `{ type: 'raft.noop' }` (Raft §8: it lets the leader commit) — or, for
   * the first leader of a cluster, its configuration written down, `{ type: 'raft.config', voters, learners }`.
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
    return this.#host.stopped;
  }

  get #context() {
    return this.#host.actor.getSnapshot().context;
  }

  // -------------------------------------------------------------- the RPC receivers (Figure 2)

  /**
   * RequestVote receiver: grant iff `term` is not stale, this node has not voted for someone else
   * in `term`, and the candidate's log is at least as up to date (last term, then last index). A
   * higher term is adopted first. The reply goes to the caller (who carries this RPC), not the network;
   * it names its voter (`from`, this node), so the candidate can count it: pass the replies to the
   * candidate's `isConsensusReached` and `becomeLeader`, or `becomeLeader(replies)`.
   * @throws InvalidRequestError for a term or index that is not a non-negative integer (term ≥ 1),
   *   or a candidate that is not another node of this cluster; nothing changes.
   */
  requestVote(term: Term, candidateId: NodeId, lastLogIndex: LogIndex, lastLogTerm: Term): VoteReply {
    const what = 'requestVote refused, nothing changed';
    assertOtherNode(candidateId, 'candidateId', what, this.nodeId, this.#allNodes);
    const input = { type: 'rpc.requestVote', from: candidateId, term, candidateId, lastLogIndex, lastLogTerm } as const;
    const request = parseAtEdge(requestVoteSchema, input, `${what}: `);
    const sends = this.#handle(request as RequestVote);
    const reply = sends.find((s) => s.to === candidateId && s.message.type === 'rpc.requestVoteResult')?.message as RequestVoteResult | undefined;
    if (reply === undefined) throw new Error(`internal: ${this.nodeId} did not answer RequestVote from ${candidateId}`);
    return { from: reply.from, term: reply.term, voteGranted: reply.voteGranted, candidateId };
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
  appendEntries(term: Term, leaderId: NodeId, prevLogIndex: LogIndex, prevLogTerm: Term, entries: readonly LogEntry[], leaderCommit: LogIndex): AppendReply {
    const what = 'appendEntries refused, nothing changed';
    assertOtherNode(leaderId, 'leaderId', what, this.nodeId, this.#allNodes);
    const input = { type: 'rpc.appendEntries', from: leaderId, term, leaderId, prevLogIndex, prevLogTerm, entries, leaderCommit, seq: 0 } as const;
    // The entries are fresh objects holding JSON copies of their commands: the caller's array and
    // objects can change later without touching our log, and a command that is not JSON is refused.
    const request = jsonEntries(parseAtEdge(appendEntriesSchema, input, `${what}: `) as AppendEntries, what);
    const sends = this.#handle(request);
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
    this.#host.route(sends);
    return sends.filter(isEnvelopeOf('rpc.requestVote'));
  }

  /**
   * Take office, if elected. A node becomes leader only by winning a majority of votes, and the
   * actor takes office the moment it has them (nextIndex = last + 1 and matchIndex = 0 for every
   * follower, a no-op entry for its term). On a candidate, this first hands the actor the granted
   * votes of its current term that the caller showed it — `replies`, and those given to
   * `isConsensusReached` in this term (what `requestVote` on the other nodes returned) — as
   * RequestVoteResult messages from their voters, as `receive` would; the actor counts them by
   * its own rules. Replies of another term, denied ones, duplicates and booleans (which cannot say
   * who voted) are not votes. Returns what the new leader sent on taking office (its no-op, in
   * AppendEntries; delivered, with a network); [] on a node that was leader already.
   * @throws InvalidRequestError for `replies` that isConsensusReached refuses; nothing changes.
   * @throws NotElectedError when the node is not leader after counting the votes it holds (the
   *   votes handed over stay counted); with no votes to hand over, nothing changes.
   */
  becomeLeader(replies?: ConsensusResponses): Envelope[] {
    this.#host.assertRunning();
    if (replies !== undefined) {
      consensusReached(replies, this.#allNodes);
      this.#rememberVotes(replies);
    }
    const sent = this.#deliverVotes();
    const ctx = this.#context;
    const voters = this.#allNodes.length;
    const needed = majoritySize(voters);
    switch (this.role) {
      case 'leader':
        return sent;
      case 'candidate':
        throw new NotElectedError(
          `${ctx.id} is a candidate in term ${ctx.currentTerm} holding ${ctx.votes.length} of ${voters} votes ` +
            `(${ctx.votes.join(', ')}); it becomes leader only with a majority, ${needed}. ` +
            (this.#evidence?.anonymous === true ? 'It was shown booleans, and booleans cannot say who voted. ' : '') +
            'Pass it the replies of requestVote on the other nodes ({ from, term, voteGranted }): becomeLeader(replies), ' +
            'or isConsensusReached(replies) then becomeLeader(); or give the replies back with receive(), or use a LocalNetwork.',
        );
      case 'preCandidate': // a pre-vote wins no office: it only lets the node start a real election
      case 'follower':
        throw new NotElectedError(
          `${ctx.id} is a ${this.state} in term ${ctx.currentTerm}` +
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
   * @throws InvalidRequestError for an entry with the wrong index or term, or a command that is
   *   not a JSON value (undefined, NaN, a Date, a cycle …); the log keeps the command's JSON copy.
   */
  replicateLog(entryOrCommand: unknown): ReplicateResult {
    const what = 'replicateLog refused, nothing changed';
    this.#host.assertRunning();
    let command = entryOrCommand;
    if (looksLikeEntry(entryOrCommand)) {
      const given = parseAtEdge(logEntrySchema, entryOrCommand, `${what}: entry `);
      this.#assertLeader();
      const { currentTerm, log } = this.#context;
      assertNextEntry(given, currentTerm, log.lastIndex, what);
      command = given.command;
    } else {
      this.#assertLeader();
    }
    if (command === undefined) throw new InvalidRequestError(`${what}: the command is undefined`);
    command = jsonCommand(command, what);
    if (isRaftCommand(command)) throw new InvalidRequestError(`${what}: commands of type raft.config and raft.noop are Raft's own`);

    const effects = this.#host.dispatchEffects({ type: 'client.propose', commands: [command] });
    for (const effect of effects) {
      if (effect.type === 'proposalRejected') throw new NotLeaderError(effect.leaderId ?? undefined);
    }
    const accepted = effects.find((e) => e.type === 'proposalAccepted');
    const entry = accepted?.type === 'proposalAccepted' ? accepted.entries[0] : undefined;
    if (entry === undefined) throw new Error(`internal: ${this.nodeId} neither accepted nor rejected the proposal`);
    const sends = sendsOf(effects);
    this.#host.route(sends);
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
    this.#host.assertRunning();
    this.#assertLeader();
    const sends = this.#dispatch({ type: 'timeout.heartbeat' });
    this.#host.route(sends);
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
    this.#host.route(sends);
    return sends;
  }

  /** Messages a timer made this node send while it has no network (clock advanced by you); cleared on read. */
  drainOutbox(): Envelope[] {
    return this.#host.drainOutbox();
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
   * On a candidate, the granted vote replies of its current term are kept for `becomeLeader()`.
   * @throws InvalidRequestError for a response of another shape, a node id outside the cluster,
   *   or more responses than there are nodes.
   */
  isConsensusReached(responses: ConsensusResponses): boolean {
    const reached = consensusReached(responses, this.#allNodes);
    this.#rememberVotes(responses);
    return reached;
  }

  // -------------------------------------------------------------- lifecycle

  /** Stop the actor and leave the network. Fields keep their last values; methods then throw StoppedError. */
  stop(): void {
    this.#host.stop();
  }

  // -------------------------------------------------------------- internals

  /** One message from outside (receive() or the network): parse it, check its sender, handle it. */
  #accept(message: unknown): Envelope[] {
    this.#host.assertRunning();
    const what = 'receive refused, nothing changed';
    const parsed = parseRpcMessage(message);
    if (!parsed.ok) throw new InvalidRequestError(`${what}: ${parsed.error}`);
    assertOtherNode(parsed.message.from, 'from', what, this.nodeId, this.#allNodes);
    assertAnswersOurLog(parsed.message, this.role, this.#context, what);
    return this.#handle(parsed.message.type === 'rpc.appendEntries' ? jsonEntries(parsed.message, what) : parsed.message);
  }

  /** Core of every incoming message, once validated: send it, refuse on a reported rule break, return the sends. */
  #handle(message: RpcMessage): Envelope[] {
    const effects = this.#host.dispatchEffects(message);
    for (const effect of effects) {
      if (effect.type === 'invariantViolation') {
        throw new InvalidRequestError(`${this.nodeId} refused ${message.type} from ${message.from}: it would break "${effect.rule}" (${effect.detail})`);
      }
    }
    return sendsOf(effects);
  }

  /** A candidate keeps the granted votes of its current term it is shown, for becomeLeader (see #evidence). */
  #rememberVotes(responses: ConsensusResponses): void {
    if (this.state !== 'candidate') return;
    const { id, currentTerm } = this.#context;
    if (this.#evidence?.term !== currentTerm) this.#evidence = { term: currentTerm, voters: new Set(), anonymous: false };
    const { granted, anonymous } = voteEvidenceOf(responses);
    if (anonymous > 0) this.#evidence.anonymous = true;
    for (const { voter, term, candidateId } of granted) {
      // Its own vote the actor holds already; other voters were checked by consensusReached. A
      // vote for another candidate of the same term must never elect this one (two leaders).
      if (term === currentTerm && voter !== id && candidateId === id) this.#evidence.voters.add(voter);
    }
  }

  /** Hand the remembered votes of the current term to a candidate's actor, as receive() would; what it sends, routed. */
  #deliverVotes(): Envelope[] {
    const evidence = this.#evidence;
    if (this.state !== 'candidate' || evidence?.term !== this.currentTerm) return [];
    const sent: Envelope[] = [];
    for (const voter of [...evidence.voters]) {
      if (this.state !== 'candidate') break; // elected (or stepped down): the rest would change nothing
      evidence.voters.delete(voter);
      const sends = this.#accept({ type: 'rpc.requestVoteResult', from: voter, term: evidence.term, voteGranted: true });
      this.#host.route(sends);
      sent.push(...sends);
    }
    return sent;
  }

  #dispatch(event: RaftEvent): Envelope[] {
    return sendsOf(this.#host.dispatchEffects(event));
  }

  #assertLeader(): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leaderId ?? undefined);
  }
}

// ---------------------------------------------------------------- the seed's names

/** The seed's snake_case names: aliases of the same members (the same functions and getters); see ./aliases.ts. */
export interface ConsensusProtocol extends SeedAliasMembers {}
installSeedAliases(ConsensusProtocol);
