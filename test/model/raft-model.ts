/**
 * The abstract model the graph tools walk: which events each state is offered, how a snapshot is
 * abstracted so the graph is finite, and where exploration stops.
 *
 * Every event is built from the node's own state, as a correct three-node cluster (n1 is the node
 * under test; n2 and n3 are its peers) could send it: terms are the node's term minus one, equal
 * or plus one; AppendEntries come from one leader per term whose log agrees with every entry the
 * node has committed and every entry it holds of that leader's term. Two inputs that a correct
 * cluster can never produce are offered on purpose, so that the machine's own reports of them are
 * exercised; `expectedReports` (reports.ts) names them.
 */
import type { SnapshotFrom } from 'xstate';
import type { RaftContext, RaftEvent, RaftNodeInput, raftNodeMachine } from '../../machines/raft-node.js';
import type { AppendEntries, AppendEntriesResult, LogEntry, LogIndex, NodeId, RequestVote, Role, Term } from '../../src/core/types.js';

export type RaftSnapshot = SnapshotFrom<typeof raftNodeMachine>;
type Ctx = RaftContext<unknown>;

export const NODE: NodeId = 'n1';
export const PEERS: readonly NodeId[] = ['n1', 'n2', 'n3'];
export const COMMAND = 'cmd';

export interface ModelScope {
  readonly name: string;
  readonly input: RaftNodeInput<unknown>;
  /** Terms are explored from input's term up to this many terms above it. */
  readonly maxTermOffset: number;
  readonly maxLogLength: number;
  /** ReadIndex confirmation rounds and reads waiting for the leader's first commit. */
  readonly maxReadSeq: number;
  readonly maxPendingReads: number;
  /** Replay every edge of the explored graph, not only those on shortest paths and self-loops (small scopes only). */
  readonly everyEdge?: boolean;
  /** Explore no further than becoming leader (to spend the budget on followers and candidates). */
  readonly stopAtLeader?: boolean;
  /** `full` offers every variant below; `core` one of each kind (for simple paths, which grow fast). */
  readonly detail: 'full' | 'core';
}

export function baseTerm(scope: ModelScope): Term {
  return scope.input.persisted?.currentTerm ?? 0;
}

export function roleOf(snapshot: RaftSnapshot): Role {
  return snapshot.value as Role;
}

// ---------------------------------------------------------------- abstraction

/**
 * The abstract state: role, term offset, vote, leader, log shape (term offsets, commands left
 * out), commitIndex, lastApplied, the candidate's votes, the leader's per-peer progress and read
 * rounds. Left out because they cannot change what the node does next: the generator state and
 * drawn delay (they only pick timer delays, and the model delivers timeouts itself), commands
 * (the model proposes one constant command), and what a role does not use (votes outside
 * candidate, read rounds outside leader — both reset when the role is entered again).
 */
export function serializeRaftState(snapshot: RaftSnapshot, base: Term): string {
  const c = snapshot.context;
  const role = roleOf(snapshot);
  const parts: unknown[] = [
    role,
    c.currentTerm - base,
    c.votedFor,
    c.leaderId,
    c.log.toArray().map((e) => e.term - base),
    c.commitIndex,
    c.lastApplied,
  ];
  if (role === 'candidate') parts.push([...c.votes].sort());
  if (role === 'leader') {
    parts.push(
      c.peers.map((peer) => {
        const r = c.replication[peer];
        return [c.nextIndex[peer], c.matchIndex[peer], r?.mode, r?.probeSent, c.ackedSeq[peer] ?? 0];
      }),
      c.readSeq,
      c.reads.map((read) => [read.index, read.seq, read.requestIds.length]),
    );
  }
  return JSON.stringify(parts);
}

/** Exploration stops (the state is kept, its successors are not explored) once a bound is passed. */
export function outOfScope(snapshot: RaftSnapshot, scope: ModelScope): boolean {
  const c = snapshot.context;
  return (
    c.currentTerm - baseTerm(scope) > scope.maxTermOffset ||
    c.log.lastIndex > scope.maxLogLength ||
    c.readSeq > scope.maxReadSeq ||
    c.reads.length > scope.maxPendingReads ||
    (scope.stopAtLeader === true && roleOf(snapshot) === 'leader')
  );
}

// ---------------------------------------------------------------- events

function requestVote(term: Term, candidate: NodeId, lastLogIndex: LogIndex, lastLogTerm: Term): RequestVote {
  return { type: 'rpc.requestVote', from: candidate, term, candidateId: candidate, lastLogIndex, lastLogTerm };
}

/** RequestVote with higher, equal and stale terms, from candidates whose logs are up to date or behind ours. */
function requestVotes(c: Ctx, scope: ModelScope): RequestVote[] {
  const t = c.currentTerm;
  const last = c.log.lastIndex;
  const upToDate: [LogIndex, Term] = [last, c.log.lastTerm];
  // A log one entry shorter than ours (if its last term is below ours, it is also older).
  const behind: [LogIndex, Term] | undefined = last >= 1 ? [last - 1, c.log.termAt(last - 1) ?? 0] : undefined;
  const offers: RequestVote[] = [requestVote(t + 1, 'n2', ...upToDate)];
  if (t >= 1) offers.push(requestVote(t, 'n2', ...upToDate), requestVote(t, 'n3', ...upToDate));
  if (scope.detail === 'full') {
    if (behind) offers.push(requestVote(t + 1, 'n2', ...behind));
    if (behind && t >= 1) offers.push(requestVote(t, 'n3', ...behind));
    if (t >= 2) offers.push(requestVote(t - 1, 'n3', ...upToDate));
  }
  // A candidate of term t has no entry of term t: it could not have been elected otherwise.
  return offers.filter((rv) => rv.lastLogTerm < rv.term);
}

function voteResults(c: Ctx, role: Role, scope: ModelScope): RaftEvent[] {
  const t = c.currentTerm;
  const result = (term: Term, from: NodeId, voteGranted: boolean): RaftEvent => ({ type: 'rpc.requestVoteResult', from, term, voteGranted });
  const offers = [result(t + 1, 'n3', false)];
  if (role === 'candidate' || scope.detail === 'full') offers.push(result(t, 'n2', true), result(t, 'n3', false));
  if (scope.detail === 'full' && t >= 1) offers.push(result(t - 1, 'n2', true));
  return offers;
}

function appendEntries(
  term: Term,
  leaderId: NodeId,
  prevLogIndex: LogIndex,
  prevLogTerm: Term,
  entryTerms: readonly Term[],
  leaderCommit: LogIndex,
): AppendEntries<unknown> {
  const entries: LogEntry<unknown>[] = entryTerms.map((t, i) => ({ term: t, index: prevLogIndex + 1 + i, command: COMMAND }));
  return { type: 'rpc.appendEntries', from: leaderId, term, leaderId, prevLogIndex, prevLogTerm, entries, leaderCommit, seq: 0 };
}

/**
 * AppendEntries that the leader of term `term` could send us. Its log agrees with ours up to the
 * anchor — our commitIndex, or our last entry of its term if that is later (only it wrote those) —
 * and may agree or conflict after it.
 */
function appendEntriesOf(c: Ctx, term: Term, leaderId: NodeId, scope: ModelScope): AppendEntries<unknown>[] {
  const log = c.log;
  const last = log.lastIndex;
  const lastTerm = log.lastTerm;
  const commit = c.commitIndex;
  const anchor = Math.max(commit, term === c.currentTerm ? log.lastIndexOfTerm(term) : 0);
  const termAt = (index: LogIndex): Term => log.termAt(index) ?? 0;
  const full = scope.detail === 'full';
  const offers: AppendEntries<unknown>[] = [];
  // prevLog matches: heartbeat, with and without news of commits; one and two new entries.
  offers.push(appendEntries(term, leaderId, last, lastTerm, [], commit));
  if (last > commit) offers.push(appendEntries(term, leaderId, last, lastTerm, [], last));
  offers.push(appendEntries(term, leaderId, last, lastTerm, [term], full ? commit : last + 1));
  if (full) offers.push(appendEntries(term, leaderId, last, lastTerm, [term, term], last + 1));
  // prevLog lags behind our end: a duplicate of entries we already hold must not shorten the log.
  if (last >= 1) offers.push(appendEntries(term, leaderId, last - 1, termAt(last - 1), [lastTerm], commit));
  if (full && last >= 2) offers.push(appendEntries(term, leaderId, last - 2, termAt(last - 2), [termAt(last - 1), lastTerm], commit));
  // prevLog runs ahead of our log.
  offers.push(appendEntries(term, leaderId, last + 1, term, full ? [] : [term], commit));
  if (last > anchor) {
    // Our last entry is not the leader's: prevLog conflicts, or the new entry conflicts with ours.
    if (full) offers.push(appendEntries(term, leaderId, last, term, [], commit));
    offers.push(appendEntries(term, leaderId, last - 1, termAt(last - 1), [term], commit));
  }
  return offers;
}

/** The leader of our term as far as we know (one leader per term); n2 if we know none. */
function leaderOf(c: Ctx): NodeId {
  return c.leaderId !== null && c.leaderId !== c.id ? c.leaderId : 'n2';
}

function appendEntriesRequests(c: Ctx, role: Role, scope: ModelScope): AppendEntries<unknown>[] {
  const t = c.currentTerm;
  const offers: AppendEntries<unknown>[] = [];
  if (t >= 2) offers.push(appendEntries(t - 1, 'n3', 0, 0, [], 0));
  if (t >= 1 && role !== 'leader') offers.push(...appendEntriesOf(c, t, leaderOf(c), scope));
  offers.push(...appendEntriesOf(c, t + 1, 'n2', scope));
  if (scope.detail === 'full') {
    // Impossible in a correct cluster, offered so the machine's reports are exercised:
    // a second leader in our own term, and a leader that rewrites an entry we know is committed.
    if (role === 'leader') offers.push(appendEntries(t, 'n2', 0, 0, [], 0));
    const commit = c.commitIndex;
    if (commit >= 1) {
      const prevTerm = c.log.termAt(commit - 1) ?? 0;
      offers.push(appendEntries(t + 1, 'n2', commit - 1, prevTerm, [t + 1], commit));
      // The same from the leader of our own term (a self-loop once we know that leader).
      const held = c.log.termAt(commit) ?? 0;
      const rewrite = held < t ? t : t - 1;
      if (role !== 'leader' && rewrite >= Math.max(1, prevTerm) && rewrite !== held) {
        offers.push(appendEntries(t, leaderOf(c), commit - 1, prevTerm, [rewrite], commit));
      }
    }
  }
  return offers;
}

function appendEntriesResult(from: NodeId, term: Term, fields: Partial<AppendEntriesResult>): AppendEntriesResult {
  return {
    type: 'rpc.appendEntriesResult',
    from,
    term,
    success: false,
    matchIndex: 0,
    rejectedIndex: 0,
    conflictTerm: 0,
    conflictIndex: 0,
    seq: 0,
    ...fields,
  };
}

/**
 * Replies a leader can get: successes (caught up, or a stale success for less), rejections of the
 * outstanding probe with a conflict hint (follower shorter, or holding another term), and stale
 * rejections; plus a reply of a higher term in every role.
 */
function appendEntriesResults(c: Ctx, role: Role, scope: ModelScope): AppendEntriesResult[] {
  const t = c.currentTerm;
  const offers = [appendEntriesResult('n3', t + 1, { success: false })];
  if (role !== 'leader') return offers;
  const last = c.log.lastIndex;
  const seq = c.readSeq;
  const full = scope.detail === 'full';
  for (const peer of full ? ['n2', 'n3'] : ['n2']) {
    const probe = (c.nextIndex[peer] ?? last + 1) - 1;
    const match = c.matchIndex[peer] ?? 0;
    offers.push(appendEntriesResult(peer, t, { success: true, matchIndex: last, seq }));
    if (probe >= 1) {
      // The follower's log ends before prevLogIndex.
      offers.push(appendEntriesResult(peer, t, { rejectedIndex: probe, conflictTerm: 0, conflictIndex: probe, seq }));
    }
    if (peer === 'n3') continue;
    if (full && last >= 1) offers.push(appendEntriesResult(peer, t, { success: true, matchIndex: last - 1, seq }));
    const held = c.log.termAt(probe) ?? 0;
    if (full && probe >= 1 && held > 1) {
      // The follower holds an older term at prevLogIndex.
      offers.push(appendEntriesResult(peer, t, { rejectedIndex: probe, conflictTerm: held - 1, conflictIndex: probe, seq }));
    }
    if (full && match >= 1) offers.push(appendEntriesResult(peer, t, { rejectedIndex: match, conflictTerm: 0, conflictIndex: match, seq }));
  }
  if (full && t >= 1) offers.push(appendEntriesResult('n2', t - 1, { success: true, matchIndex: last }));
  return offers;
}

/** Every event offered to a state. The graph tools keep only the types the state handles. */
export function modelEvents(snapshot: RaftSnapshot, scope: ModelScope): RaftEvent[] {
  const c = snapshot.context;
  const role = roleOf(snapshot);
  return [
    { type: 'timeout.election' },
    { type: 'timeout.heartbeat' },
    ...requestVotes(c, scope),
    ...voteResults(c, role, scope),
    ...appendEntriesRequests(c, role, scope),
    ...appendEntriesResults(c, role, scope),
    { type: 'client.propose', commands: [COMMAND], requestId: 'p' },
    { type: 'client.read', requestIds: ['r'] },
  ];
}

/** One line per event, for failure messages and bug reports. */
export function describeEvent(event: RaftEvent): string {
  switch (event.type) {
    case 'rpc.requestVote':
      return `requestVote from ${event.candidateId} term ${event.term} last ${event.lastLogIndex}@${event.lastLogTerm}`;
    case 'rpc.requestVoteResult':
      return `requestVoteResult from ${event.from} term ${event.term} ${event.voteGranted ? 'granted' : 'denied'}`;
    case 'rpc.appendEntries':
      return `appendEntries from ${event.leaderId} term ${event.term} prev ${event.prevLogIndex}@${event.prevLogTerm} entries [${event.entries
        .map((e) => `${e.index}@${e.term}`)
        .join(' ')}] leaderCommit ${event.leaderCommit}`;
    case 'rpc.appendEntriesResult':
      return `appendEntriesResult from ${event.from} term ${event.term} ${
        event.success ? `success match ${event.matchIndex}` : `reject ${event.rejectedIndex} hint ${event.conflictIndex}@${event.conflictTerm}`
      } seq ${event.seq}`;
    case 'client.propose':
      return `client.propose ${event.commands.length} command(s)`;
    case 'client.read':
      return `client.read ${event.requestIds.join(',')}`;
    default:
      return event.type;
  }
}
