/**
 * The Raft node as a statechart: follower / candidate / leader.
 *
 * Put Figure 2 of the Raft paper beside this file. The root holds the rules of every role (a
 * higher term makes you a follower; a stale request is rejected with our term; RequestVote is
 * decided the same way in every role); each state holds only its own role's rules, for messages
 * of the current term. Every guard and action is named after the rule it implements and
 * delegates the rule itself to a pure function in src/core/.
 *
 * The machine performs no I/O. It emits effects — `persist`, `send`, `apply`, `roleChanged`,
 * `leaderChanged`, and the answers to client requests — and the runtime performs them in the
 * durability order (persist, then send, then apply). Timers are delayed events raised through
 * the actor's clock, with the election timeout drawn from a seeded generator kept in context.
 */
import {
  and,
  assign,
  enqueueActions,
  not,
  raise,
  setup,
  stateIn,
  type ActorRefFrom,
  type MetaObject,
  type NonReducibleUnknown,
  type ParameterizedObject,
  type SnapshotFrom,
  type StateMachine,
} from 'xstate';
import { followerCommitIndex, isCommittable } from '../src/core/commit.js';
import {
  changedConfiguration,
  configAt,
  configCommand,
  historyAfterAppend,
  historyAfterCompaction,
  historyAfterTruncation,
  inForce,
  isRaftCommand,
  snapshotConfiguration,
  type ConfigChange,
  type LearnerProgress,
} from '../src/core/configuration.js';
import {
  advanceLeaderCommit,
  appendCommands,
  hasCommittedInTerm,
  heardFrom,
  isPlausibleReply,
  isPlausibleSnapshotReply,
  mostUpToDateVoter,
  progressOf,
  reconfigure,
  replicate,
  sendTimeoutNowIfCaughtUp,
  serveConfirmedReads,
  withProgress,
} from '../src/core/leader.js';
import { conflictHint, mergeEntries } from '../src/core/log.js';
import {
  applyCommitted,
  hardState,
  initialContext,
  isSelfVoter,
  mayCampaign,
  ownVote,
  votersCount,
  type EffectSink,
  type RaftContext,
  type RaftEffect,
  type RaftEvent,
  type RaftNodeInput,
} from '../src/core/node.js';
import { isMajority } from '../src/core/quorum.js';
import { randomInt } from '../src/core/random.js';
import { initialProgress, progressAfterRejection, progressAfterSnapshotReply, progressAfterSuccess, type Progress } from '../src/core/replication.js';
import { acceptChunk, entriesAfterSnapshot } from '../src/core/snapshot.js';
import {
  NOOP,
  type AppendEntries,
  type AppendEntriesResult,
  type InstallSnapshot,
  type InstallSnapshotResult,
  type NodeId,
  type LogIndex,
  type RequestVote,
  type Role,
  type Term,
} from '../src/core/types.js';
import { canGrantPreVote, canGrantVote, recordVote } from '../src/core/vote.js';

export { initialContext, type RaftContext, type RaftEffect, type RaftEvent, type RaftNodeInput } from '../src/core/node.js';

const ELECTION_TIMER = 'raft.election';
const HEARTBEAT_TIMER = 'raft.heartbeat';
const TRANSFER_TIMER = 'raft.transfer';
const LEADER_CONTACT_TIMER = 'raft.leaderContact';

// ---------------------------------------------------------------- small helpers over context

type Ctx = RaftContext<unknown>;
type Ev = RaftEvent<unknown>;
/** Guards that rules consult in the middle of an action (so a mutant can replace them with `provide`). */
type RuleGuard = { type: 'isCommittableIndex'; params: { entryTerm: Term | undefined; currentTerm: Term } };
type Enqueue = EffectSink & { assign: (patch: Partial<Ctx>) => void };

/**
 * Assign what a rule changed. A rule that changed nothing assigns nothing: XState copies the
 * whole context on every assign, and most steps of a follower (a heartbeat's reply, a re-armed
 * timer) change nothing or one field.
 */
function commit(ctx: Ctx, before: Ctx, enqueue: Enqueue): void {
  // Stryker disable next-line ConditionalExpression,BlockStatement: a shortcut; without it the loop finds nothing changed
  if (ctx === before) return;
  const patch: Partial<Ctx> = {};
  let changed = false;
  for (const key of Object.keys(ctx) as (keyof Ctx)[]) {
    if (ctx[key] !== before[key]) {
      (patch as Record<string, unknown>)[key] = ctx[key];
      changed = true;
    }
  }
  // Stryker disable next-line ConditionalExpression: an empty assign changes nothing (only its cost)
  if (changed) enqueue.assign(patch);
}

type Collect = Parameters<typeof enqueueActions<Ctx, Ev, undefined, Ev, never, never, never, never, RaftEffect<unknown>>>[0];
/** enqueueActions typed for this machine. */
function effects(collect: Collect) {
  return enqueueActions<Ctx, Ev, undefined, Ev, never, never, never, never, RaftEffect<unknown>>(collect);
}

/** Runs a rule as a pure function of context that may emit effects, and assigns what it changed. */
function rule(fn: (ctx: Ctx, event: Ev, enqueue: Enqueue) => Ctx) {
  return effects(({ context, event, enqueue, check }) => {
    // `check` evaluates a guard of this machine by name (typed loosely here: setup() infers the
    // guard names only after the actions are declared).
    const checkGuard = check as unknown as (guard: RuleGuard) => boolean;
    const queue: Enqueue = {
      emit: (effect) => enqueue.emit(effect),
      assign: (patch) => enqueue.assign(patch),
      isCommittable: (entryTerm, currentTerm) => checkGuard({ type: 'isCommittableIndex', params: { entryTerm, currentTerm } }),
    };
    commit(fn(context, event, queue), context, queue);
  });
}

function asEvent<T extends Ev['type']>(event: Ev, type: T): Extract<Ev, { type: T }> {
  if (event.type !== type) throw new TypeError(`expected ${type}, got ${event.type}`);
  return event as Extract<Ev, { type: T }>;
}

/** A granted pre-vote carries the term asked about, which is above the voter's: not a reason to step down. */
function isPreVoteGrant(event: Ev): boolean {
  return event.type === 'rpc.requestVoteResult' && event.preVote === true && event.voteGranted;
}

/** RequestVote (or pre-vote) to every other voter, for `term`, with our last log position. */
function askForVotes(ctx: Ctx, term: Term, preVote: boolean, enqueue: Enqueue): void {
  const { lastIndex: lastLogIndex, lastTerm: lastLogTerm } = ctx.log;
  for (const peer of ctx.peers) {
    enqueue.emit({
      type: 'send',
      to: peer,
      message: { type: 'rpc.requestVote', from: ctx.id, term, candidateId: ctx.id, lastLogIndex, lastLogTerm, ...(preVote ? { preVote } : {}) },
    });
  }
}

/**
 * Answer a (pre-)vote request. A granted pre-vote carries the term asked about (it is above ours);
 * every other answer carries our current term.
 */
function answerVote(ctx: Ctx, request: RequestVote, granted: boolean, enqueue: Enqueue): void {
  const preVote = request.preVote === true;
  enqueue.emit({
    type: 'send',
    to: request.candidateId,
    message: {
      type: 'rpc.requestVoteResult',
      from: ctx.id,
      term: preVote && granted ? request.term : ctx.currentTerm,
      voteGranted: granted,
      ...(preVote ? { preVote } : {}),
    },
  });
}

/**
 * Answer an AppendEntries with our term, naming the request it answers: its term and its
 * confirmation round (ReadIndex). Fields not given are 0: matchIndex on a rejection, the rejected
 * index and conflict hint on a success.
 */
function answerAppend(
  ctx: Ctx,
  request: AppendEntries,
  answer: Pick<AppendEntriesResult, 'success'> & Partial<Pick<AppendEntriesResult, 'matchIndex' | 'rejectedIndex' | 'conflictTerm' | 'conflictIndex'>>,
  enqueue: Enqueue,
): void {
  enqueue.emit({
    type: 'send',
    to: request.leaderId,
    message: {
      type: 'rpc.appendEntriesResult',
      from: ctx.id,
      term: ctx.currentTerm,
      matchIndex: 0,
      rejectedIndex: 0,
      conflictTerm: 0,
      conflictIndex: 0,
      ...answer,
      requestTerm: request.term,
      seq: request.seq,
    },
  });
}

/** Answer an InstallSnapshot chunk with our term, naming the request (its term, snapshot and round). */
function answerSnapshot(ctx: Ctx, request: InstallSnapshot, answer: Pick<InstallSnapshotResult, 'offset' | 'installed'>, enqueue: Enqueue): void {
  enqueue.emit({
    type: 'send',
    to: request.leaderId,
    message: {
      type: 'rpc.installSnapshotResult',
      from: ctx.id,
      term: ctx.currentTerm,
      requestTerm: request.term,
      lastIncludedIndex: request.lastIncludedIndex,
      ...answer,
      seq: request.seq,
    },
  });
}

/** The leader an AppendEntries or InstallSnapshot comes from. */
function leaderOf(event: Ev): NodeId {
  if (event.type !== 'rpc.appendEntries' && event.type !== 'rpc.installSnapshot') throw new TypeError(`expected a leader's request, got ${event.type}`);
  return event.leaderId;
}

function termOf(event: Ev): Term | undefined {
  return 'term' in event ? event.term : undefined;
}

/** What the leader knows of a learner's replication, for promote's lag bound. */
function learnerProgress(ctx: Ctx, id: NodeId): LearnerProgress {
  const progress = progressOf(ctx, id);
  return { caughtUp: progress.mode === 'replicate', matchIndex: progress.matchIndex, leaderLastIndex: ctx.log.lastIndex };
}

function configChangeOutcome(ctx: Ctx, change: ConfigChange) {
  return changedConfiguration(ctx.config, change, change.type === 'promote' ? learnerProgress(ctx, change.id) : undefined);
}

/**
 * A change is in flight: one is held back, or the leader has appended one that is not yet
 * committed. (A new leader's uncommitted configuration entry of an earlier term is not: a change
 * asked for then is held back until the leader's first entry commits, which commits that one too.)
 */
function hasConfigChangeInFlight(ctx: Ctx): boolean {
  return ctx.heldConfigChange !== undefined || (inForce(ctx.configs).index > ctx.commitIndex && hasCommittedInTerm(ctx));
}

/** Append one configuration change (validated again: a held change may have become invalid meanwhile). */
function appendConfigChange(ctx: Ctx, change: ConfigChange, requestId: string, enqueue: Enqueue): Ctx {
  const outcome = configChangeOutcome(ctx, change);
  if (!outcome.ok) {
    enqueue.emit({ type: 'configChangeRejected', requestId, reason: 'invalid', detail: outcome.reason, leaderId: ctx.id });
    return ctx;
  }
  const appended = appendCommands(ctx, [configCommand(outcome.config)], enqueue);
  const entry = appended.entries[0] as { index: LogIndex; term: Term };
  enqueue.emit({ type: 'configChangeAccepted', requestId, index: entry.index, term: entry.term });
  return appended.ctx;
}

/**
 * A higher term, in every role: adopt it and be a follower. A follower stays in its state: only
 * a valid AppendEntries of the current leader or a granted vote resets the election timer
 * (Figure 2), and re-entering `follower` would reset it — so would a refused RequestVote.
 */
function onHigherTerm<A extends readonly ('adoptHigherTerm' | 'reprocessEvent')[]>(actions: A) {
  return [
    { guard: and(['isHigherTerm', stateIn('#raftNode.follower')]), actions },
    { guard: 'isHigherTerm', target: '.follower', actions },
  ] as const;
}

// ---------------------------------------------------------------- the machine

const machine = setup({
  types: {
    context: {} as RaftContext<unknown>,
    events: {} as RaftEvent<unknown>,
    input: {} as RaftNodeInput<unknown>,
    emitted: {} as RaftEffect<unknown>,
  },
  guards: {
    /** Any RPC or reply carrying a higher term than ours (Figure 2, "All Servers"). */
    isHigherTerm: ({ context, event }) => (termOf(event) ?? -1) > context.currentTerm && !isPreVoteGrant(event),
    /** A request or reply from an earlier term. */
    isStaleTerm: ({ context, event }) => (termOf(event) ?? Infinity) < context.currentTerm,
    isCurrentTerm: ({ context, event }) => termOf(event) === context.currentTerm,
    /** A real (not pre-) vote of our term. */
    isCurrentTermVote: ({ context, event }) => event.type === 'rpc.requestVoteResult' && event.term === context.currentTerm && event.preVote !== true,
    isPreVoteRequest: ({ event }) => event.type === 'rpc.requestVote' && event.preVote === true,
    /** Pre-vote receiver: the term asked about is above ours, the log is up to date, no live leader. */
    canGrantPreVote: ({ context, event }) => canGrantPreVote(context, asEvent(event, 'rpc.requestVote')),
    /** A pre-vote granted for the term this pre-candidate asked about. */
    isPreVoteGrantForUs: ({ context, event }) => isPreVoteGrant(event) && termOf(event) === context.currentTerm + 1,
    isPreVoteEnabled: ({ context }) => context.preVote,
    /** Only a voter of the configuration in force campaigns (a learner, a removed or a joining server never does). */
    isSelfVoter: ({ context }) => isSelfVoter(context),
    /** A voter of its configuration, or of the one before while that is uncommitted (it may be needed to commit its own removal). */
    mayCampaign: ({ context }) => mayCampaign(context),
    /** Check-quorum: a majority of the voters (the leader included, if it is one) answered since the last check. */
    hasActiveQuorum: ({ context }) =>
      !context.checkQuorum || isMajority(context.recentlyActive.filter((id) => context.peers.includes(id)).length + (isSelfVoter(context) ? 1 : 0), votersCount(context)),
    /** The leader has committed an entry of its own term (§5.4.2; a configuration change waits for it: the 2015 bug). */
    hasCommittedInTerm: ({ context }) => hasCommittedInTerm(context),
    /** A configuration entry is not yet committed, or a change is held back: never two changes in flight. */
    hasConfigChangeInFlight: ({ context }) => hasConfigChangeInFlight(context),
    /** The change names a server it can apply to (and a promoted learner has caught up). */
    isValidConfigChange: ({ context, event }) => configChangeOutcome(context, asEvent(event, 'client.changeConfig').change).ok,
    hasHeldConfigChange: ({ context }) => context.heldConfigChange !== undefined,
    /** The leader is not a voter of a committed configuration: it removed itself, and hands over. */
    isRemovedAndCommitted: ({ context }) => !isSelfVoter(context) && inForce(context.configs).index <= context.commitIndex,
    isTransferring: ({ context }) => context.transfer !== undefined,
    /** A client's batch holds one of Raft's own commands (a configuration, a no-op). */
    proposesRaftCommand: ({ event }) => asEvent(event, 'client.propose').commands.some(isRaftCommand),
    /** A voter to hand leadership to: the one named (another voter), or the most up-to-date one. */
    hasTransferTarget: ({ context, event }) => {
      const { to } = asEvent(event, 'client.transferLeadership');
      return to === undefined ? mostUpToDateVoter(context) !== undefined : context.peers.includes(to);
    },
    /** RequestVote receiver rules 1 and 2. */
    canGrantVote: ({ context, event }) => canGrantVote(context, asEvent(event, 'rpc.requestVote')),
    /**
     * AppendEntries receiver rule 2: our log holds prevLogIndex with prevLogTerm — or prevLogIndex
     * lies inside our snapshot, whose entries are committed and so match every leader's.
     */
    logMatchesPrev: ({ context, event }) => {
      const request = asEvent(event, 'rpc.appendEntries');
      const { log } = context;
      return request.term === context.currentTerm && (log.matches(request.prevLogIndex, request.prevLogTerm) || request.prevLogIndex < log.snapshotIndex);
    },
    /** The host's snapshot covers entries the log still holds, all of them applied. */
    isNewerSnapshot: ({ context, event }) => {
      const { index } = asEvent(event, 'snapshot.taken');
      return index > context.log.snapshotIndex && index <= context.lastApplied;
    },
    /**
     * A reply of our term to a request of our term. A follower refusing an earlier term's request
     * answers with its own term, which may be ours again if we lead a later term: its round,
     * index and probe belong to the old leadership and must count for nothing in this one.
     */
    answersCurrentTermRequest: ({ context, event }) =>
      (event.type === 'rpc.appendEntriesResult' || event.type === 'rpc.installSnapshotResult') && event.term === context.currentTerm && event.requestTerm === context.currentTerm,
    isAcceptance: ({ event }) => asEvent(event, 'rpc.appendEntriesResult').success,
    /** Only the voters of the configuration in force count toward an election (never a learner's or a stranger's grant). */
    isFromVoter: ({ context, event }) => 'from' in event && context.peers.includes(event.from),
    /** Candidate: votes from a majority of the voters (`votes > voters / 2`). */
    hasVoteQuorum: ({ context }) => isMajority(context.votes.length, votersCount(context)),
    /** Leader commit rule, second half: replicas are counted only for an entry of the current term (§5.4.2). */
    isCommittableIndex: (_: unknown, params: { entryTerm: Term | undefined; currentTerm: Term }) => isCommittable(params.entryTerm, params.currentTerm),
  },
  actions: {
    /** A higher term: adopt it and forget the vote (it belonged to the old term). */
    adoptHigherTerm: rule((ctx, event, enqueue) => {
      const next = { ...ctx, currentTerm: termOf(event) as Term, votedFor: null, leaderId: null, heardFromLeader: false };
      enqueue.emit({ type: 'persist', hardState: hardState(next), entries: [] });
      if (ctx.leaderId !== null) enqueue.emit({ type: 'leaderChanged', leaderId: null, term: next.currentTerm });
      return next;
    }),
    /** Handle the same message again in the role we have just taken. */
    reprocessEvent: raise<Ctx, Ev, Ev, undefined>(({ event }) => event),
    /** A request from an earlier term is refused with our term, so its sender learns it is stale. */
    rejectStaleRequest: rule((ctx, event, enqueue) => {
      if (event.type === 'rpc.requestVote') answerVote(ctx, event, false, enqueue);
      else if (event.type === 'rpc.appendEntries') answerAppend(ctx, event, { success: false, rejectedIndex: event.prevLogIndex }, enqueue);
      else if (event.type === 'rpc.installSnapshot') answerSnapshot(ctx, event, { offset: 0, installed: false }, enqueue);
      return ctx;
    }),
    /** Grant: remember the vote (persisted before the reply leaves) and reset the election timer. */
    grantVote: rule((ctx, event, enqueue) => {
      const request = asEvent(event, 'rpc.requestVote');
      const next = { ...ctx, votedFor: request.candidateId };
      if (ctx.votedFor !== request.candidateId) enqueue.emit({ type: 'persist', hardState: hardState(next), entries: [] });
      answerVote(ctx, request, true, enqueue);
      return next;
    }),
    denyVote: rule((ctx, event, enqueue) => {
      answerVote(ctx, asEvent(event, 'rpc.requestVote'), false, enqueue);
      return ctx;
    }),
    /** Draw a new election timeout from the seeded generator and (re)arm the election timer. */
    armElectionTimer: effects(({ context, enqueue }) => {
      const [delay, rng] = randomInt(context.rng, context.electionTimeout[0], context.electionTimeout[1]);
      enqueue.assign({ rng, electionDelay: delay });
      enqueue.cancel(ELECTION_TIMER);
      enqueue.raise({ type: 'timeout.election' }, { id: ELECTION_TIMER, delay });
    }),
    /**
     * The leader's lease at a follower (etcd's "in lease"): a full election timeout — the shortest
     * one, not this node's randomized draw — after the leader was last heard from, the follower no
     * longer counts it as alive and grants pre-votes, whether or not its own timer has fired. So a
     * failover follows the earliest survivor's timer, as it would without pre-vote.
     */
    armLeaderContactTimer: effects(({ context, enqueue }) => {
      enqueue.cancel(LEADER_CONTACT_TIMER);
      enqueue.raise({ type: 'timeout.leaderContact' }, { id: LEADER_CONTACT_TIMER, delay: context.electionTimeout[0] });
    }),
    /** A leader keeps its election timer only for check-quorum. */
    armCheckQuorumTimer: effects(({ context, enqueue }) => {
      enqueue.cancel(ELECTION_TIMER);
      if (!context.checkQuorum) return;
      const [delay, rng] = randomInt(context.rng, context.electionTimeout[0], context.electionTimeout[1]);
      enqueue.assign({ rng, electionDelay: delay });
      enqueue.raise({ type: 'timeout.election' }, { id: ELECTION_TIMER, delay });
    }),
    armHeartbeatTimer: effects(({ context, enqueue }) => {
      enqueue.cancel(HEARTBEAT_TIMER);
      enqueue.raise({ type: 'timeout.heartbeat' }, { id: HEARTBEAT_TIMER, delay: context.heartbeatInterval });
    }),
    cancelHeartbeatTimer: effects(({ enqueue }) => enqueue.cancel(HEARTBEAT_TIMER)),
    announceFollower: rule((ctx, _event, enqueue) => {
      enqueue.emit({ type: 'roleChanged', role: 'follower', term: ctx.currentTerm });
      return ctx;
    }),
    /** Pre-vote granted: answer with the term asked about. Nothing changes here (no term, no vote). */
    grantPreVote: rule((ctx, event, enqueue) => {
      answerVote(ctx, asEvent(event, 'rpc.requestVote'), true, enqueue);
      return ctx;
    }),
    denyPreVote: rule((ctx, event, enqueue) => {
      answerVote(ctx, asEvent(event, 'rpc.requestVote'), false, enqueue);
      return ctx;
    }),
    /** Pre-candidate: ask every voter whether it would vote for us in the next term; change nothing yet. */
    startPreVote: rule((ctx, _event, enqueue) => {
      const next = { ...ctx, votes: ownVote(ctx), heardFromLeader: false };
      enqueue.emit({ type: 'roleChanged', role: 'preCandidate', term: ctx.currentTerm });
      askForVotes(ctx, ctx.currentTerm + 1, true, enqueue);
      return next;
    }),
    /** Candidate: increment currentTerm, vote for self (counted only if a voter), send RequestVote to every other voter. */
    startElection: rule((ctx, _event, enqueue) => {
      const next = { ...ctx, currentTerm: ctx.currentTerm + 1, votedFor: ctx.id, votes: ownVote(ctx), leaderId: null, heardFromLeader: false };
      enqueue.emit({ type: 'persist', hardState: hardState(next), entries: [] });
      enqueue.emit({ type: 'roleChanged', role: 'candidate', term: next.currentTerm });
      if (ctx.leaderId !== null) enqueue.emit({ type: 'leaderChanged', leaderId: null, term: next.currentTerm });
      askForVotes(ctx, next.currentTerm, false, enqueue);
      return next;
    }),
    recordVote: assign<Ctx, Ev, undefined, Ev, never>({
      votes: ({ context, event }) => {
        const reply = asEvent(event, 'rpc.requestVoteResult');
        return recordVote(context.votes, reply.from, reply.voteGranted);
      },
    }),
    /** A valid AppendEntries of our term comes from the leader: remember it and reset the election timer. */
    recognizeLeader: rule((ctx, event, enqueue) => {
      const leaderId = leaderOf(event);
      if (ctx.leaderId === leaderId) return ctx.heardFromLeader ? ctx : { ...ctx, heardFromLeader: true };
      if (ctx.leaderId !== null) {
        // A term has one leader: hearing from a second one means Election Safety broke somewhere.
        enqueue.emit({
          type: 'invariantViolation',
          rule: 'at most one leader per term',
          detail: `${ctx.id} follows ${ctx.leaderId} in term ${ctx.currentTerm} and received ${event.type} from ${leaderId} for the same term`,
        });
      }
      enqueue.emit({ type: 'leaderChanged', leaderId, term: ctx.currentTerm });
      return { ...ctx, leaderId, heardFromLeader: true };
    }),
    /** AppendEntries receiver rules 3–5: merge without shortening on duplicates, then advance commitIndex. */
    acceptEntries: rule((ctx, event, enqueue) => {
      const request = asEvent(event, 'rpc.appendEntries');
      // Entries our snapshot covers are committed and held already: only those after it are merged.
      const merged = mergeEntries(ctx.log, entriesAfterSnapshot(ctx.log, request) ?? request.entries);
      const lastNewIndex = request.prevLogIndex + request.entries.length;
      if (merged.truncatedFrom !== undefined && merged.truncatedFrom <= ctx.commitIndex) {
        enqueue.emit({
          type: 'invariantViolation',
          rule: 'committed entries are never truncated',
          detail: `leader ${request.leaderId} term ${request.term} conflicts at ${merged.truncatedFrom} ≤ commitIndex ${ctx.commitIndex}`,
        });
        return ctx;
      }
      if (merged.truncatedFrom !== undefined || merged.appended.length > 0) {
        enqueue.emit({
          type: 'persist',
          hardState: hardState(ctx),
          entries: merged.appended,
          ...(merged.truncatedFrom !== undefined ? { truncateFrom: merged.truncatedFrom } : {}),
        });
      }
      const commitIndex = followerCommitIndex(ctx.commitIndex, request.leaderCommit, lastNewIndex);
      answerAppend(ctx, request, { success: true, matchIndex: lastNewIndex }, enqueue);
      // A configuration entry takes effect when appended; one truncated away is undone.
      const truncated = merged.truncatedFrom !== undefined ? historyAfterTruncation(ctx.configs, merged.truncatedFrom) : ctx.configs;
      const next = reconfigure(ctx, { ...ctx, log: merged.log, commitIndex }, historyAfterAppend(truncated, merged.appended), enqueue);
      return applyCommitted(next, enqueue);
    }),
    /** AppendEntries receiver rule 2 failed: refuse, with a hint to skip the conflicting term. */
    rejectEntries: rule((ctx, event, enqueue) => {
      const request = asEvent(event, 'rpc.appendEntries');
      const hint = conflictHint(ctx.log, request.prevLogIndex);
      answerAppend(ctx, request, { success: false, rejectedIndex: request.prevLogIndex, ...hint }, enqueue);
      return ctx;
    }),
    /**
     * InstallSnapshot receiver (§7, Figure 13): gather the chunks; once the last one is in, keep
     * the log's suffix after the snapshot if it matches there (else discard the log), persist the
     * snapshot, restore the state machine from it, and set commitIndex / lastApplied to its index.
     * A snapshot no newer than what we have committed changes nothing: we never go back.
     */
    receiveSnapshotChunk: rule((ctx, event, enqueue) => {
      const request = asEvent(event, 'rpc.installSnapshot');
      if (request.lastIncludedIndex <= ctx.commitIndex) {
        answerSnapshot(ctx, request, { offset: request.offset + request.data.length, installed: true }, enqueue);
        return ctx.incomingSnapshot === undefined ? ctx : { ...ctx, incomingSnapshot: undefined };
      }
      const outcome = acceptChunk(ctx.incomingSnapshot, request);
      if (outcome.kind !== 'complete') {
        answerSnapshot(ctx, request, { offset: outcome.offset, installed: false }, enqueue);
        return { ...ctx, incomingSnapshot: outcome.incoming };
      }
      const { snapshot } = outcome;
      const installed = ctx.log.installSnapshot(snapshot.index, snapshot.term);
      enqueue.emit({
        type: 'persist',
        hardState: hardState(ctx),
        snapshot,
        entries: [],
        ...(installed.discardedAfter ? { truncateFrom: snapshot.index + 1 } : {}),
      });
      enqueue.emit({ type: 'restore', snapshot });
      answerSnapshot(ctx, request, { offset: snapshot.data.length, installed: true }, enqueue);
      // The snapshot carries the configuration at its index; configuration entries in a kept suffix
      // stay in force (a discarded suffix takes its own with it).
      const carried = { index: snapshot.index, config: snapshotConfiguration(snapshot.data) ?? configAt(ctx.configs, snapshot.index).config };
      const configs = [carried, ...(installed.discardedAfter ? [] : ctx.configs.filter((record) => record.index > snapshot.index))];
      const next = { ...ctx, log: installed.log, snapshot, incomingSnapshot: undefined, commitIndex: Math.max(ctx.commitIndex, snapshot.index), lastApplied: snapshot.index };
      return reconfigure(ctx, next, configs, enqueue);
    }),
    /** Log compaction (§7): the host snapshotted its state machine up to an applied index; drop the log behind it and persist it. */
    compactLog: rule((ctx, event, enqueue) => {
      const { index, data } = asEvent(event, 'snapshot.taken');
      const snapshot = { index, term: ctx.log.termAt(index) as Term, data };
      enqueue.emit({ type: 'persist', hardState: hardState(ctx), snapshot, entries: [] });
      return { ...ctx, log: ctx.log.compact(index), snapshot, configs: historyAfterCompaction(ctx.configs, index) };
    }),
    /** Leader election won: nextIndex = last + 1 and matchIndex = 0 for everyone; announce ourselves. */
    initializeLeaderState: rule((ctx, _event, enqueue) => {
      const nextIndex: Record<NodeId, LogIndex> = {};
      const matchIndex: Record<NodeId, LogIndex> = {};
      const replication: Record<NodeId, Omit<Progress, 'nextIndex' | 'matchIndex'>> = {};
      const fresh = initialProgress(ctx.log.lastIndex);
      for (const peer of ctx.replicas) {
        nextIndex[peer] = fresh.nextIndex;
        matchIndex[peer] = fresh.matchIndex;
        replication[peer] = { mode: fresh.mode, probeSent: fresh.probeSent };
      }
      enqueue.emit({ type: 'roleChanged', role: 'leader', term: ctx.currentTerm });
      enqueue.emit({ type: 'leaderChanged', leaderId: ctx.id, term: ctx.currentTerm });
      return {
        ...ctx,
        leaderId: ctx.id,
        heardFromLeader: true,
        votes: [],
        nextIndex,
        matchIndex,
        replication,
        recentlyActive: [],
        readSeq: 0,
        ackedSeq: {},
        reads: [],
        heldConfigChange: undefined,
        transfer: undefined,
      };
    }),
    /**
     * Append commands as entries of our term and send them. A new leader appends a no-op so it can
     * commit an entry of its own term, which also commits everything before it (§5.4.2).
     */
    /**
     * The first leader of a cluster writes its bootstrap configuration down instead (the same
     * members: not a change): from then on every server, a new one too, learns the configuration
     * from the log or from a snapshot, never from its command line.
     */
    appendNoop: rule((ctx, _event, enqueue) => {
      const written = ctx.configs.some((record) => record.index > 0);
      return appendCommands(ctx, [written ? NOOP : configCommand(ctx.config)], enqueue).ctx;
    }),
    appendProposal: rule((ctx, event, enqueue) => {
      const { commands, requestId } = asEvent(event, 'client.propose');
      const appended = appendCommands(ctx, commands, enqueue);
      enqueue.emit({ type: 'proposalAccepted', entries: appended.entries, ...(requestId !== undefined ? { requestId } : {}) });
      return appended.ctx;
    }),
    /** A client proposed one of Raft's own commands (a configuration, a no-op): only Raft's rules append those. */
    rejectRaftCommand: rule((ctx, event, enqueue) => {
      const { requestId } = asEvent(event, 'client.propose');
      enqueue.emit({ type: 'proposalRejected', leaderId: ctx.leaderId, reserved: true, ...(requestId !== undefined ? { requestId } : {}) });
      return ctx;
    }),
    rejectProposal: rule((ctx, event, enqueue) => {
      const { requestId } = asEvent(event, 'client.propose');
      // While it hands leadership over, a leader refuses proposals and points at the next leader.
      enqueue.emit({ type: 'proposalRejected', leaderId: ctx.transfer?.to ?? ctx.leaderId, ...(requestId !== undefined ? { requestId } : {}) });
      return ctx;
    }),
    sendHeartbeats: rule((ctx, _event, enqueue) => replicate(ctx, enqueue, true)),
    /** A follower accepted: record how far it matches, commit what a majority holds, send it more. */
    recordReplication: rule((ctx, event, enqueue) => {
      const reply = asEvent(event, 'rpc.appendEntriesResult');
      if (!isPlausibleReply(ctx, reply, enqueue)) return ctx;
      const acked = heardFrom(ctx, reply);
      const progressed = { ...acked, ...withProgress(acked, reply.from, progressAfterSuccess(progressOf(acked, reply.from), reply.matchIndex)) };
      const committed = advanceLeaderCommit(progressed, enqueue);
      return sendTimeoutNowIfCaughtUp(replicate(committed, enqueue, false, reply.from), enqueue);
    }),
    /** A follower refused: move its nextIndex back by the conflict hint and probe again. */
    backOffNextIndex: rule((ctx, event, enqueue) => {
      const reply = asEvent(event, 'rpc.appendEntriesResult');
      if (!isPlausibleReply(ctx, reply, enqueue)) return ctx;
      const acked = heardFrom(ctx, reply);
      const before = progressOf(acked, reply.from);
      const after = progressAfterRejection(before, reply.rejectedIndex, reply, acked.log);
      const next = serveConfirmedReads({ ...acked, ...withProgress(acked, reply.from, after) }, enqueue);
      return after === before ? next : replicate(next, enqueue, false, reply.from);
    }),
    /** A follower answered a snapshot chunk: it installed it (replicate after it), or resume where it says. */
    recordSnapshotProgress: rule((ctx, event, enqueue) => {
      const reply = asEvent(event, 'rpc.installSnapshotResult');
      if (!isPlausibleSnapshotReply(ctx, reply, enqueue)) return ctx;
      const acked = heardFrom(ctx, reply);
      const after = progressAfterSnapshotReply(progressOf(acked, reply.from), reply, ctx.snapshot?.index ?? 0);
      const progressed = { ...acked, ...withProgress(acked, reply.from, after) };
      const next = reply.installed ? advanceLeaderCommit(progressed, enqueue) : serveConfirmedReads(progressed, enqueue);
      return sendTimeoutNowIfCaughtUp(replicate(next, enqueue, false, reply.from), enqueue);
    }),
    /** ReadIndex: admit reads at the current commitIndex and start a confirmation round. */
    admitReads: rule((ctx, event, enqueue) => {
      const { requestIds } = asEvent(event, 'client.read');
      if (!hasCommittedInTerm(ctx)) return { ...ctx, reads: [...ctx.reads, { requestIds, index: 0, seq: 0 }] };
      const readSeq = ctx.readSeq + 1;
      const next = { ...ctx, readSeq, reads: [...ctx.reads, { requestIds, index: ctx.commitIndex, seq: readSeq }] };
      return serveConfirmedReads(replicate(next, enqueue, true), enqueue);
    }),
    rejectReads: rule((ctx, event, enqueue) => {
      const { requestIds } = asEvent(event, 'client.read');
      enqueue.emit({ type: 'readRejected', requestIds, leaderId: ctx.leaderId });
      return ctx;
    }),
    /** Leaving office: reads we could not confirm must be retried at the new leader. */
    abandonLeadership: rule((ctx, _event, enqueue) => {
      const requestIds = ctx.reads.flatMap((r) => r.requestIds);
      if (requestIds.length > 0) enqueue.emit({ type: 'readRejected', requestIds, leaderId: null });
      const held = ctx.heldConfigChange;
      if (held !== undefined) {
        enqueue.emit({
          type: 'configChangeRejected',
          requestId: held.requestId,
          reason: 'not_leader',
          detail: 'the leader lost office before it could append the change',
          leaderId: null,
        });
      }
      return {
        ...ctx,
        heardFromLeader: false,
        nextIndex: {},
        matchIndex: {},
        replication: {},
        recentlyActive: [],
        ackedSeq: {},
        reads: [],
        heldConfigChange: undefined,
        transfer: undefined,
      };
    }),
    // ------------------------------------------------------------ configuration (single-server changes, §4.1)
    /** A change that names a server it cannot apply to: refused, nothing changes. */
    rejectInvalidConfigChange: rule((ctx, event, enqueue) => {
      const { change, requestId } = asEvent(event, 'client.changeConfig');
      const outcome = configChangeOutcome(ctx, change);
      enqueue.emit({ type: 'configChangeRejected', requestId, reason: 'invalid', detail: outcome.ok ? 'invalid change' : outcome.reason, leaderId: ctx.id });
      return ctx;
    }),
    /** Another change is not yet committed (or held back), or leadership is being transferred. */
    rejectConfigChangeInProgress: rule((ctx, event, enqueue) => {
      const { requestId } = asEvent(event, 'client.changeConfig');
      const detail = ctx.transfer !== undefined ? `leadership is being transferred to ${ctx.transfer.to}` : 'another configuration change is not yet committed';
      enqueue.emit({ type: 'configChangeRejected', requestId, reason: 'in_progress', detail, leaderId: ctx.id });
      return ctx;
    }),
    rejectConfigChangeNotLeader: rule((ctx, event, enqueue) => {
      const { requestId } = asEvent(event, 'client.changeConfig');
      enqueue.emit({ type: 'configChangeRejected', requestId, reason: 'not_leader', detail: 'this node is not the leader', leaderId: ctx.leaderId });
      return ctx;
    }),
    /** A new leader has not yet committed an entry of its term: hold the change back until it has. */
    holdConfigChange: assign<Ctx, Ev, undefined, Ev, never>({
      heldConfigChange: ({ event }) => {
        const { change, requestId } = asEvent(event, 'client.changeConfig');
        return { change, requestId };
      },
    }),
    appendConfigChange: rule((ctx, event, enqueue) => {
      const { change, requestId } = asEvent(event, 'client.changeConfig');
      return appendConfigChange(ctx, change, requestId, enqueue);
    }),
    appendHeldConfigChange: rule((ctx, _event, enqueue) => {
      const held = ctx.heldConfigChange;
      if (held === undefined) return ctx;
      return appendConfigChange({ ...ctx, heldConfigChange: undefined }, held.change, held.requestId, enqueue);
    }),
    /**
     * Leaving office with its own removal committed (§4.2.2): hand over to the most up-to-date voter
     * with TimeoutNow if one holds the whole log (else the voters elect one after their timeout). An
     * exit action, so it runs while the leader still knows its followers' progress.
     */
    handOverIfRemoved: effects(({ context, enqueue, check }) => {
      if (!(check as unknown as (guard: { type: 'isRemovedAndCommitted' }) => boolean)({ type: 'isRemovedAndCommitted' })) return;
      const to = mostUpToDateVoter(context);
      if (to === undefined || (context.matchIndex[to] ?? 0) < context.log.lastIndex) return;
      enqueue.emit({ type: 'send', to, message: { type: 'rpc.timeoutNow', from: context.id, term: context.currentTerm, leaderId: context.id } });
    }),
    /** The leader's removal of itself is committed: step down; as a non-voter it never campaigns again. */
    stepDownAfterRemoval: rule((ctx, _event, enqueue) => {
      enqueue.emit({ type: 'leaderChanged', leaderId: null, term: ctx.currentTerm });
      return { ...ctx, leaderId: null };
    }),
    // ------------------------------------------------------------ leadership transfer (§3.10)
    /** Stop accepting proposals, bring the target up to date, and send it TimeoutNow once it is. */
    startTransfer: rule((ctx, event, enqueue) => {
      const { to: asked, requestId } = asEvent(event, 'client.transferLeadership');
      const to = asked ?? (mostUpToDateVoter(ctx) as NodeId);
      enqueue.emit({ type: 'transferStarted', to, ...(requestId !== undefined ? { requestId } : {}) });
      const next = { ...ctx, transfer: { to, requestId, timeoutNowSent: false } };
      return sendTimeoutNowIfCaughtUp(replicate(next, enqueue, false, to), enqueue);
    }),
    refuseTransfer: rule((ctx, event, enqueue) => {
      const { to, requestId } = asEvent(event, 'client.transferLeadership');
      const detail =
        ctx.leaderId !== ctx.id
          ? 'this node is not the leader'
          : ctx.transfer !== undefined
            ? `leadership is already being transferred to ${ctx.transfer.to}`
            : hasConfigChangeInFlight(ctx)
              ? 'a configuration change is in flight: transfer once it has committed'
              : to === undefined
                ? 'there is no other voter to hand leadership to'
                : `${to} is not another voter of this cluster`;
      const outcome = ctx.leaderId !== ctx.id ? 'not_leader' : ctx.transfer !== undefined || hasConfigChangeInFlight(ctx) ? 'in_progress' : 'refused';
      enqueue.emit({ type: 'transferEnded', to: to ?? null, outcome, detail, leaderId: ctx.leaderId, ...(requestId !== undefined ? { requestId } : {}) });
      return ctx;
    }),
    /** The target did not take over within an election timeout: give up and serve again. */
    abandonTransfer: rule((ctx, _event, enqueue) => {
      const transfer = ctx.transfer;
      if (transfer === undefined) return ctx;
      enqueue.emit({
        type: 'transferEnded',
        to: transfer.to,
        outcome: 'abandoned',
        detail: `${transfer.to} did not take over within an election timeout`,
        leaderId: ctx.id,
        ...(transfer.requestId !== undefined ? { requestId: transfer.requestId } : {}),
      });
      return { ...ctx, transfer: undefined };
    }),
    armTransferTimer: effects(({ context, enqueue }) => {
      enqueue.cancel(TRANSFER_TIMER);
      enqueue.raise({ type: 'timeout.transfer' }, { id: TRANSFER_TIMER, delay: context.electionTimeout[1] });
    }),
    cancelTransferTimer: effects(({ enqueue }) => enqueue.cancel(TRANSFER_TIMER)),
    /** An election timeout passed without a word from the leader: it no longer stands in the way of pre-votes. */
    forgetLeaderContact: assign<Ctx, Ev, undefined, Ev, never>({ heardFromLeader: false }),
    /** Check-quorum passed: start counting answers afresh. */
    startActivityRound: assign<Ctx, Ev, undefined, Ev, never>({ recentlyActive: [] }),
    /** Check-quorum failed: a leader that cannot reach a majority steps down (and stops serving). */
    stepDownWithoutQuorum: rule((ctx, _event, enqueue) => {
      enqueue.emit({ type: 'leaderChanged', leaderId: null, term: ctx.currentTerm });
      return { ...ctx, leaderId: null };
    }),
    /** TimeoutNow from our leader (§3.10): campaign at once, skipping the pre-vote (the leader asked us to). */
    recognizeTransfer: rule((ctx, event, enqueue) => {
      const { leaderId } = asEvent(event, 'rpc.timeoutNow');
      if (ctx.leaderId !== null && ctx.leaderId !== leaderId) {
        enqueue.emit({
          type: 'invariantViolation',
          rule: 'at most one leader per term',
          detail: `${ctx.id} follows ${ctx.leaderId} in term ${ctx.currentTerm} and received rpc.timeoutNow from ${leaderId} for the same term`,
        });
      }
      return ctx;
    }),
    /** Two leaders in one term: Election Safety is broken somewhere. Report; do not act. */
    reportTwoLeaders: rule((ctx, event, enqueue) => {
      enqueue.emit({
        type: 'invariantViolation',
        rule: 'at most one leader per term',
        detail: `${ctx.id} leads term ${ctx.currentTerm} and received ${event.type} from ${leaderOf(event)} for the same term`,
      });
      return ctx;
    }),
  },
}).createMachine({
  id: 'raftNode',
  context: ({ input }) => initialContext(input),
  initial: 'follower',
  on: {
    'rpc.requestVote': [
      { guard: and(['isPreVoteRequest', 'canGrantPreVote']), actions: 'grantPreVote' },
      { guard: 'isPreVoteRequest', actions: 'denyPreVote' },
      ...onHigherTerm(['adoptHigherTerm', 'reprocessEvent']),
      { guard: 'isStaleTerm', actions: 'rejectStaleRequest' },
      { guard: 'canGrantVote', actions: ['grantVote', 'armElectionTimer'] },
      { actions: 'denyVote' },
    ],
    'rpc.appendEntries': [...onHigherTerm(['adoptHigherTerm', 'reprocessEvent']), { guard: 'isStaleTerm', actions: 'rejectStaleRequest' }],
    'rpc.installSnapshot': [...onHigherTerm(['adoptHigherTerm', 'reprocessEvent']), { guard: 'isStaleTerm', actions: 'rejectStaleRequest' }],
    // A stale TimeoutNow is dropped: its leadership is over.
    'rpc.timeoutNow': onHigherTerm(['adoptHigherTerm', 'reprocessEvent']),
    'rpc.requestVoteResult': onHigherTerm(['adoptHigherTerm']),
    'rpc.appendEntriesResult': onHigherTerm(['adoptHigherTerm']),
    'rpc.installSnapshotResult': onHigherTerm(['adoptHigherTerm']),
    // Log compaction, in every role.
    'snapshot.taken': { guard: 'isNewerSnapshot', actions: 'compactLog' },
  },
  states: {
    follower: {
      entry: ['announceFollower', 'armElectionTimer'],
      on: {
        'timeout.election': [
          // A learner, or a server removed from (or not yet added to) the configuration, never campaigns
          // (a leader whose own removal is not yet committed still may: see mayCampaign).
          // Its timer still says whether a leader was heard within a timeout (for the pre-votes it
          // grants: a voter that has not yet learnt of its own promotion must not refuse them forever).
          { guard: not('mayCampaign'), actions: ['forgetLeaderContact', 'armElectionTimer'] },
          { guard: 'isPreVoteEnabled', target: 'preCandidate' },
          { target: 'candidate' },
        ],
        'rpc.timeoutNow': { guard: and(['isCurrentTerm', 'isSelfVoter']), target: 'candidate', actions: 'recognizeTransfer' },
        'client.changeConfig': { actions: 'rejectConfigChangeNotLeader' },
        'client.transferLeadership': { actions: 'refuseTransfer' },
        'rpc.appendEntries': [
          { guard: 'logMatchesPrev', actions: ['recognizeLeader', 'armElectionTimer', 'armLeaderContactTimer', 'acceptEntries'] },
          { guard: 'isCurrentTerm', actions: ['recognizeLeader', 'armElectionTimer', 'armLeaderContactTimer', 'rejectEntries'] },
        ],
        'rpc.installSnapshot': { guard: 'isCurrentTerm', actions: ['recognizeLeader', 'armElectionTimer', 'armLeaderContactTimer', 'receiveSnapshotChunk'] },
        // The leader's lease ran out: a shortest election timeout without a word from it.
        'timeout.leaderContact': { actions: 'forgetLeaderContact' },
        'client.propose': { actions: 'rejectProposal' },
        'client.read': { actions: 'rejectReads' },
      },
    },
    preCandidate: {
      entry: ['startPreVote', 'armElectionTimer'],
      always: { guard: 'hasVoteQuorum', target: 'candidate' },
      on: {
        'timeout.election': { target: 'preCandidate', reenter: true },
        'rpc.requestVoteResult': { guard: and(['isPreVoteGrantForUs', 'isFromVoter']), actions: 'recordVote' },
        'rpc.appendEntries': { guard: 'isCurrentTerm', target: 'follower', actions: 'reprocessEvent' },
        'rpc.installSnapshot': { guard: 'isCurrentTerm', target: 'follower', actions: 'reprocessEvent' },
        'client.propose': { actions: 'rejectProposal' },
        'client.read': { actions: 'rejectReads' },
        'client.changeConfig': { actions: 'rejectConfigChangeNotLeader' },
        'client.transferLeadership': { actions: 'refuseTransfer' },
      },
    },
    candidate: {
      entry: ['startElection', 'armElectionTimer'],
      always: { guard: 'hasVoteQuorum', target: 'leader' },
      on: {
        // Pre-vote before every election, not only the first: a candidate cut off from the
        // others must not keep raising its term and then depose a working leader on return.
        'timeout.election': [
          { guard: 'isPreVoteEnabled', target: 'preCandidate' },
          { target: 'candidate', reenter: true },
        ],
        'rpc.requestVoteResult': { guard: and(['isCurrentTermVote', 'isFromVoter']), actions: 'recordVote' },
        'rpc.appendEntries': { guard: 'isCurrentTerm', target: 'follower', actions: 'reprocessEvent' },
        'rpc.installSnapshot': { guard: 'isCurrentTerm', target: 'follower', actions: 'reprocessEvent' },
        'client.propose': { actions: 'rejectProposal' },
        'client.read': { actions: 'rejectReads' },
        'client.changeConfig': { actions: 'rejectConfigChangeNotLeader' },
        'client.transferLeadership': { actions: 'refuseTransfer' },
      },
    },
    leader: {
      entry: ['initializeLeaderState', 'armCheckQuorumTimer', 'appendNoop', 'armHeartbeatTimer'],
      exit: ['cancelHeartbeatTimer', 'cancelTransferTimer', 'handOverIfRemoved', 'abandonLeadership'],
      always: [
        { guard: 'isRemovedAndCommitted', target: 'follower', actions: 'stepDownAfterRemoval' },
        { guard: and(['hasHeldConfigChange', 'hasCommittedInTerm']), actions: 'appendHeldConfigChange' },
      ],
      on: {
        'timeout.election': [
          { guard: 'hasActiveQuorum', actions: ['startActivityRound', 'armCheckQuorumTimer'] },
          { target: 'follower', actions: 'stepDownWithoutQuorum' },
        ],
        'timeout.heartbeat': { actions: ['sendHeartbeats', 'armHeartbeatTimer'] },
        'rpc.appendEntries': { guard: 'isCurrentTerm', actions: 'reportTwoLeaders' },
        'rpc.installSnapshot': { guard: 'isCurrentTerm', actions: 'reportTwoLeaders' },
        'rpc.installSnapshotResult': { guard: 'answersCurrentTermRequest', actions: 'recordSnapshotProgress' },
        'rpc.appendEntriesResult': [
          { guard: and(['answersCurrentTermRequest', 'isAcceptance']), actions: 'recordReplication' },
          { guard: 'answersCurrentTermRequest', actions: 'backOffNextIndex' },
        ],
        'client.propose': [{ guard: 'proposesRaftCommand', actions: 'rejectRaftCommand' }, { guard: 'isTransferring', actions: 'rejectProposal' }, { actions: 'appendProposal' }],
        'client.read': { actions: 'admitReads' },
        'client.changeConfig': [
          { guard: 'isTransferring', actions: 'rejectConfigChangeInProgress' },
          { guard: 'hasConfigChangeInFlight', actions: 'rejectConfigChangeInProgress' },
          { guard: not('isValidConfigChange'), actions: 'rejectInvalidConfigChange' },
          { guard: not('hasCommittedInTerm'), actions: 'holdConfigChange' },
          { actions: 'appendConfigChange' },
        ],
        'client.transferLeadership': [
          // Not while a configuration change is held or uncommitted: the target might be removed, or win under the old configuration.
          { guard: and([not('isTransferring'), not('hasConfigChangeInFlight'), 'hasTransferTarget']), actions: ['startTransfer', 'armTransferTimer'] },
          { actions: 'refuseTransfer' },
        ],
        'timeout.transfer': { actions: ['abandonTransfer'] },
      },
    },
  },
});

/**
 * The machine's type, spelled out. Its 14 type arguments are the ones every xstate from 5.20 on
 * accepts: left to inference, the declaration file would name xstate's StateMachine with the
 * arity of the xstate this package was built with (15 since 5.2x), and a user's older 5.x would
 * refuse the .d.ts. Action and guard names are kept out of the type (implementations are not
 * meant to be replaced; `provide` still works, for tests' mutants).
 */
export type RaftNodeMachine = StateMachine<
  RaftContext<unknown>,
  RaftEvent<unknown>,
  {},
  never,
  ParameterizedObject,
  ParameterizedObject,
  never,
  Role,
  string,
  RaftNodeInput<unknown>,
  NonReducibleUnknown,
  RaftEffect<unknown>,
  MetaObject,
  { id: 'raftNode'; states: { readonly follower: {}; readonly preCandidate: {}; readonly candidate: {}; readonly leader: {} } }
>;

export const raftNodeMachine: RaftNodeMachine = machine;
export type RaftNodeActor = ActorRefFrom<typeof raftNodeMachine>;
export type RaftNodeSnapshot = SnapshotFrom<typeof raftNodeMachine>;
