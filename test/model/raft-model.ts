/**
 * The abstract model the graph tools walk: which events each state is offered, how a snapshot is
 * abstracted so the graph is finite, and where exploration stops.
 *
 * Every event is built from the node's own state, as a correct three-node cluster (n1 is the node
 * under test; n2 and n3 are its peers; the membership scopes add the learner n4, a newcomer n5 and
 * a stranger n9) could send it: terms are the node's term minus one, equal
 * or plus one (a pre-vote asks about the term above its sender's); AppendEntries come from one
 * leader per term whose log agrees with every entry the node has committed and every entry it
 * holds of that leader's term — and from no one in a term the node itself led. A few inputs that
 * a correct cluster can never produce are offered on purpose (a second leader in the node's term,
 * to a leader or to a pre-candidate that still knows the first; a rewrite of a committed entry), so
 * that the machine's own reports of them are exercised; `expectedReports` (reports.ts) names them.
 */
import type { SnapshotFrom } from 'xstate';
import type { RaftContext, RaftEvent, RaftNodeInput, raftNodeMachine } from '../../machines/raft-node.js';
import { configCommand, isConfigCommand, type ConfigChange, type Configuration } from '../../src/core/configuration.js';
import { isMajority } from '../../src/core/quorum.js';
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
  /**
   * Also offer a pre-candidate that knows the leader of its term a heartbeat from another leader of
   * that term (impossible; the node must report it). The node then follows the second leader, which
   * forks every later follower state by leader: for smaller scopes.
   */
  readonly secondLeader?: boolean;
  /** `full` offers every variant below; `core` one of each kind (for simple paths, which grow fast). */
  readonly detail: 'full' | 'core';
  /** Offer compaction (`snapshot.taken`), InstallSnapshot chunks and their answers, and AppendEntries reaching into the snapshot. */
  readonly snapshots?: boolean;
  /**
   * Offer membership changes and leadership transfer (see membershipEvents): configuration changes
   * and transfers asked of every role, their timeout, TimeoutNow, answers from the learner n4 and
   * from n3, and AppendEntries that carry a configuration entry about the node itself.
   */
  readonly membership?: boolean;
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
 * out), commitIndex, lastApplied; whether a leader was heard from (it decides pre-votes; a leader
 * always has); the (pre-)candidate's votes; the leader's per-peer progress, read rounds and, with
 * check-quorum, the peers that answered since the last check — a sorted set until they make a
 * quorum with the leader, then just `quorum` (further answers change nothing the node does before
 * the next check starts the count afresh). Left out because they cannot change what the node does
 * next: the generator state and drawn delay (they only pick timer delays, and the model delivers
 * timeouts itself), commands (the model proposes one constant command; in the membership scopes
 * which entries are configuration entries is kept, with the configuration in force; a leader's
 * held change and transfer in progress always are), and what a role does not
 * use (votes outside (pre-)candidate, read rounds and answers outside leader — all reset when the
 * role is entered again; answers without check-quorum, which nothing reads).
 */
export function serializeRaftState(snapshot: RaftSnapshot, scope: ModelScope): string {
  const base = baseTerm(scope);
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
    c.log.snapshotIndex,
    c.log.snapshotIndex === 0 ? 0 : c.log.snapshotTerm - base,
    c.incomingSnapshot === undefined ? null : [c.incomingSnapshot.leaderId, c.incomingSnapshot.index, c.incomingSnapshot.received],
  ];
  // Which entries set a configuration, and the one in force: without membership events they change
  // nothing the node does (every configuration entry names the bootstrap members), so only the
  // membership scopes tell them apart.
  if (scope.membership === true)
    parts.push(
      c.configs.map((record) => record.index),
      [[...c.config.voters].sort(), [...c.config.learners].sort()],
    );
  if (role !== 'leader') parts.push(c.heardFromLeader);
  if (role === 'candidate' || role === 'preCandidate') parts.push([...c.votes].sort());
  if (role === 'leader') {
    // As the leader's check counts: itself only if it is a voter.
    const self = c.config.voters.includes(c.id) ? 1 : 0;
    if (c.checkQuorum) parts.push(isMajority(c.recentlyActive.length + self, c.config.voters.length) ? 'quorum' : [...c.recentlyActive].sort());
    parts.push(
      c.replicas.map((peer) => {
        const r = c.replication[peer];
        return [c.nextIndex[peer], c.matchIndex[peer], r?.mode, r?.probeSent, r?.sending ?? 0, r?.offset ?? 0, c.ackedSeq[peer] ?? 0];
      }),
      c.readSeq,
      c.reads.map((read) => [read.index, read.seq, read.requestIds.length]),
      c.heldConfigChange === undefined ? null : [c.heldConfigChange.change.type, c.heldConfigChange.change.id],
      c.transfer === undefined ? null : [c.transfer.to, c.transfer.timeoutNowSent],
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

function requestVote(term: Term, candidate: NodeId, lastLogIndex: LogIndex, lastLogTerm: Term, preVote = false): RequestVote {
  return { type: 'rpc.requestVote', from: candidate, term, candidateId: candidate, lastLogIndex, lastLogTerm, ...(preVote ? { preVote } : {}) };
}

/**
 * RequestVote with higher, equal and stale terms, from candidates whose logs are up to date or
 * behind ours. In full detail, pre-vote requests too, which change nothing at the receiver: for
 * the term above ours from an up-to-date log (granted unless a leader was heard from — a leader
 * always has, so it gets only this one), from a log behind ours (denied), and for our own term
 * (its sender is a term behind: denied). (Core detail leaves them out: they are self-loops, which
 * no simple path contains.)
 */
function requestVotes(c: Ctx, role: Role, scope: ModelScope): RequestVote[] {
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
    offers.push(requestVote(t + 1, 'n3', ...upToDate, true));
    if (role !== 'leader') {
      if (behind) offers.push(requestVote(t + 1, 'n2', ...behind, true));
      if (t >= 1) offers.push(requestVote(t, 'n2', ...(behind ?? upToDate), true));
    }
  }
  // A candidate of term t has no entry of term t: it could not have been elected otherwise. (A
  // pre-candidate asks about the term above its own, so the same holds of what it asks about.)
  return offers.filter((rv) => rv.lastLogTerm < rv.term);
}

/**
 * Vote replies. Real ones: a denial of a higher term (step down), a grant and a denial of our term,
 * a stale grant. Pre-vote ones, to a pre-candidate (and to a follower that was one in this term):
 * the grant for the term it asks about (our term + 1), a denial of a higher term (step down: the
 * voter is ahead), a denial of our term (the voter heard from a leader, or our log is behind:
 * nothing changes). And replies whose shape misleads: a late pre-vote grant for the term a
 * candidate now holds (asked in the term before) is not a vote, and a real grant of our term or
 * an earlier one (from an election we ran before) is not a pre-vote grant.
 *
 * Core detail offers each role one way to step down (a pre-candidate: the pre-vote denial; a
 * leader: the AppendEntries reply, see appendEntriesResults), since parallel edges between the
 * same two states multiply the simple paths without adding a state sequence.
 */
function voteResults(c: Ctx, role: Role, scope: ModelScope): RaftEvent[] {
  const t = c.currentTerm;
  const full = scope.detail === 'full';
  const result = (term: Term, from: NodeId, voteGranted: boolean): RaftEvent => ({ type: 'rpc.requestVoteResult', from, term, voteGranted });
  const preResult = (term: Term, from: NodeId, voteGranted: boolean): RaftEvent => ({ type: 'rpc.requestVoteResult', from, term, voteGranted, preVote: true });
  const offers: RaftEvent[] = [];
  if (full || role === 'follower' || role === 'candidate') offers.push(result(t + 1, 'n3', false));
  if (role === 'candidate' || full) offers.push(result(t, 'n2', true), result(t, 'n3', false));
  if (full && t >= 1) offers.push(result(t - 1, 'n2', true));
  if (role === 'preCandidate' || (full && role === 'follower')) {
    offers.push(preResult(t + 1, 'n2', true), preResult(t + 1, 'n3', false));
    if (full) offers.push(preResult(t, 'n3', false), preResult(t + 1, 'n3', true));
  }
  if (t >= 1 && (role === 'candidate' || (full && role !== 'leader'))) offers.push(preResult(t, 'n3', true));
  return offers;
}

function appendEntries(term: Term, leaderId: NodeId, prevLogIndex: LogIndex, prevLogTerm: Term, entryTerms: readonly Term[], leaderCommit: LogIndex): AppendEntries<unknown> {
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

/**
 * The node led this term and stepped down (check-quorum): no one else leads it. Within the
 * model's scopes, a follower or pre-candidate that voted for itself and knows no leader got there
 * only that way (a candidate that lost learned the winner from its AppendEntries; no scope starts
 * from a vote for itself).
 */
function ledThisTerm(c: Ctx, role: Role): boolean {
  return (role === 'follower' || role === 'preCandidate') && c.votedFor === c.id && c.leaderId === null;
}

function appendEntriesRequests(c: Ctx, role: Role, scope: ModelScope): AppendEntries<unknown>[] {
  const t = c.currentTerm;
  const offers: AppendEntries<unknown>[] = [];
  const otherLeader = t >= 1 && role !== 'leader' && !ledThisTerm(c, role);
  if (t >= 2) offers.push(appendEntries(t - 1, 'n3', 0, 0, [], 0));
  if (otherLeader) offers.push(...appendEntriesOf(c, t, leaderOf(c), scope));
  offers.push(...appendEntriesOf(c, t + 1, 'n2', scope));
  if (scope.detail === 'full') {
    // Impossible in a correct cluster, offered so the machine's reports are exercised:
    // a second leader in our own term, and a leader that rewrites an entry we know is committed.
    if (role === 'leader') offers.push(appendEntries(t, 'n2', 0, 0, [], 0));
    // A pre-candidate still knows the leader of its term (it only stopped hearing from it): a
    // second one is reported too.
    if (scope.secondLeader === true && role === 'preCandidate' && c.leaderId !== null && c.leaderId !== c.id) {
      offers.push(appendEntries(t, c.leaderId === 'n2' ? 'n3' : 'n2', c.log.lastIndex, c.log.lastTerm, [], c.commitIndex));
    }
    const commit = c.commitIndex;
    if (commit >= 1) {
      const prevTerm = c.log.termAt(commit - 1) ?? 0;
      offers.push(appendEntries(t + 1, 'n2', commit - 1, prevTerm, [t + 1], commit));
      // The same from the leader of our own term (a self-loop once we know that leader).
      const held = c.log.termAt(commit) ?? 0;
      const rewrite = held < t ? t : t - 1;
      if (otherLeader && rewrite >= Math.max(1, prevTerm) && rewrite !== held) {
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
    requestTerm: Math.max(1, term),
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
 * rejections; plus a reply of a higher term in every role (in core detail only to a leader: the
 * others step down on a vote reply, see voteResults). Every answer of our term counts toward the
 * leader's check-quorum.
 */
function appendEntriesResults(c: Ctx, role: Role, scope: ModelScope): AppendEntriesResult[] {
  const t = c.currentTerm;
  const full = scope.detail === 'full';
  const offers = full || role === 'leader' ? [appendEntriesResult('n3', t + 1, { success: false })] : [];
  if (role !== 'leader') return offers;
  const last = c.log.lastIndex;
  const seq = c.readSeq;
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
  // A refusal of an earlier term's request, carrying the follower's term — ours again (hole 1 of
  // issue 8): it answers another leadership and must count for nothing.
  if (t >= 2) offers.push(appendEntriesResult('n2', t, { requestTerm: t - 1, rejectedIndex: last, seq }));
  return offers;
}

// ---------------------------------------------------------------- snapshots

const SNAPSHOT_DATA = 'j:0';

function installSnapshot(term: Term, leaderId: NodeId, index: LogIndex, snapshotTerm: Term, offset: number, data: string, done: boolean, seq = 0): RaftEvent {
  return { type: 'rpc.installSnapshot', from: leaderId, term, leaderId, lastIncludedIndex: index, lastIncludedTerm: snapshotTerm, offset, data, done, seq };
}

/**
 * What a leader of term `term` could send in snapshot chunks: a snapshot that runs past our log
 * (of its own term), one ending at our last entry (which it then agrees with: the suffix is kept),
 * one we already hold committed; whole, or as a first chunk and the chunk that continues it, or a
 * chunk that does not continue what we hold (we answer with the offset we have).
 */
function snapshotChunksOf(c: Ctx, term: Term, leaderId: NodeId): RaftEvent[] {
  const last = c.log.lastIndex;
  const offers: RaftEvent[] = [installSnapshot(term, leaderId, last + 1, term, 0, SNAPSHOT_DATA, true)];
  offers.push(installSnapshot(term, leaderId, last + 1, term, 0, SNAPSHOT_DATA.slice(0, 2), false));
  if (c.incomingSnapshot !== undefined && c.incomingSnapshot.leaderId === leaderId) {
    const { index, term: snapshotTerm, received } = c.incomingSnapshot;
    offers.push(installSnapshot(term, leaderId, index, snapshotTerm, received, SNAPSHOT_DATA.slice(received), true));
    offers.push(installSnapshot(term, leaderId, index, snapshotTerm, received + 1, '0', true));
  }
  if (last > c.commitIndex && c.log.lastTerm >= 1) offers.push(installSnapshot(term, leaderId, last, c.log.lastTerm, 0, SNAPSHOT_DATA, true));
  if (c.commitIndex >= 1 && c.commitIndex > c.log.snapshotIndex) {
    offers.push(installSnapshot(term, leaderId, c.commitIndex, c.log.termAt(c.commitIndex) ?? 1, 0, SNAPSHOT_DATA, true));
  }
  return offers;
}

function snapshotEvents(c: Ctx, role: Role): RaftEvent[] {
  const t = c.currentTerm;
  const offers: RaftEvent[] = [];
  // Compaction up to what the node applied.
  if (c.lastApplied > c.log.snapshotIndex) offers.push({ type: 'snapshot.taken', index: c.lastApplied, data: SNAPSHOT_DATA });
  // Chunks from the leader of our term, of the next term, and a stale one.
  if (t >= 1 && role !== 'leader' && !ledThisTerm(c, role)) offers.push(...snapshotChunksOf(c, t, leaderOf(c)));
  offers.push(...snapshotChunksOf(c, t + 1, 'n2').slice(0, 1));
  if (t >= 2) offers.push(installSnapshot(t - 1, 'n3', c.log.lastIndex + 1, t - 1, 0, SNAPSHOT_DATA, true));
  // Impossible: a second leader of our own term sends a leader a snapshot (reported).
  if (role === 'leader') offers.push(installSnapshot(t, 'n2', c.log.lastIndex, c.log.lastTerm, 0, SNAPSHOT_DATA, true));
  // AppendEntries reaching back into our snapshot: its entries there are committed, so they match.
  const base = c.log.snapshotIndex;
  if (base >= 2 && role !== 'leader' && !ledThisTerm(c, role) && t >= 1) {
    offers.push(appendEntries(t, leaderOf(c), base - 1, c.log.snapshotTerm, [c.log.snapshotTerm], c.commitIndex));
  }
  // Answers to our snapshot chunks: installed, partly received, to another term's chunk, a higher term.
  const result = (from: NodeId, term: Term, requestTerm: Term, index: LogIndex, offset: number, installed: boolean): RaftEvent => ({
    type: 'rpc.installSnapshotResult',
    from,
    term,
    requestTerm,
    lastIncludedIndex: index,
    offset,
    installed,
    seq: role === 'leader' ? c.readSeq : 0,
  });
  const snapshotAt = Math.max(1, c.log.snapshotIndex);
  offers.push(result('n3', t + 1, Math.max(1, t), snapshotAt, 0, false));
  if (role === 'leader') {
    // The follower holds nothing: the leader falls back to its snapshot.
    offers.push(appendEntriesResult('n2', t, { rejectedIndex: (c.nextIndex.n2 ?? c.log.lastIndex + 1) - 1, conflictTerm: 0, conflictIndex: 1, seq: c.readSeq }));
    if (c.log.snapshotIndex >= 1) {
      offers.push(result('n2', t, t, c.log.snapshotIndex, SNAPSHOT_DATA.length, true), result('n2', t, t, c.log.snapshotIndex, 1, false));
      if (t >= 2) offers.push(result('n2', t, t - 1, c.log.snapshotIndex, 1, false));
    }
  }
  return offers.filter((e) => e.type !== 'rpc.appendEntriesResult' || e.rejectedIndex >= 1);
}

// ---------------------------------------------------------------- membership and transfer

/** The learner of the membership scopes, and a server no configuration names. */
export const LEARNER: NodeId = 'n4';
const NEWCOMER: NodeId = 'n5';
const STRANGER: NodeId = 'n9';

function changeConfig(change: ConfigChange): RaftEvent {
  return { type: 'client.changeConfig', change, requestId: `${change.type}:${change.id}` };
}

/**
 * The configuration entry the leader of the node's cluster could send next about the node itself
 * (one server at a time): remove it if it is a voter, promote it if it is a learner, and add it as
 * a learner if it is not a member (a joining node knows no voters: those are n2 and n3).
 */
function nextConfigAboutSelf(c: Ctx): Configuration {
  const { voters, learners } = c.config;
  if (voters.includes(c.id)) return { voters: voters.filter((v) => v !== c.id), learners };
  if (learners.includes(c.id)) return { voters: [...voters, c.id], learners: learners.filter((l) => l !== c.id) };
  return { voters: voters.length > 0 ? voters : ['n2', 'n3'], learners: [...learners, c.id] };
}

/**
 * Membership (single-server changes) and leadership transfer. A leader is asked every change that
 * its guards tell apart — add a newcomer, promote the learner n4 (refused while the leader has not
 * heard where n4's log stands), remove n3, remove itself, remove a stranger (invalid) — and to hand
 * leadership to n2, to the most up-to-date voter, or to a stranger (refused); while a transfer is
 * under way, its timeout. It hears from n3 and from the learner n4 (whose answers never count
 * toward commit), sees TimeoutNow of a higher term, and is proposed a configuration entry by a
 * client (refused: only Raft's rules append one). The other roles refuse both requests (one
 * of each: they are self-loops) and take TimeoutNow from the leader of their term and of the next;
 * a follower is sent a configuration entry about itself (nextConfigAboutSelf), which it must put
 * in force at once — and undo if a later leader's entry replaces it; a (pre-)candidate gets the
 * learner's grant, which must not count.
 */
function membershipEvents(c: Ctx, role: Role): RaftEvent[] {
  const t = c.currentTerm;
  const offers: RaftEvent[] = [];
  const timeoutNow = (term: Term, leaderId: NodeId): RaftEvent => ({ type: 'rpc.timeoutNow', from: leaderId, term, leaderId });
  offers.push(timeoutNow(t + 1, 'n2'));
  if (role !== 'leader') {
    offers.push(changeConfig({ type: 'addLearner', id: NEWCOMER }), { type: 'client.transferLeadership', to: 'n2', requestId: 't' });
    const otherLeader = t >= 1 && !ledThisTerm(c, role);
    if (otherLeader && (role === 'follower' || role === 'preCandidate')) offers.push(timeoutNow(t, leaderOf(c)));
    const entry = (term: Term): LogEntry<unknown> => ({ term, index: c.log.lastIndex + 1, command: configCommand(nextConfigAboutSelf(c)) });
    const carrying = (term: Term, leaderId: NodeId): AppendEntries<unknown> => ({
      type: 'rpc.appendEntries',
      from: leaderId,
      term,
      leaderId,
      prevLogIndex: c.log.lastIndex,
      prevLogTerm: c.log.lastTerm,
      entries: [entry(term)],
      leaderCommit: c.commitIndex,
      seq: 0,
    });
    if (otherLeader) offers.push(carrying(t, leaderOf(c)));
    offers.push(carrying(t + 1, 'n2'));
    // The learner grants a (pre-)vote — it may have learnt of its own promotion first: not counted.
    if (role === 'candidate') offers.push({ type: 'rpc.requestVoteResult', from: LEARNER, term: t, voteGranted: true });
    if (role === 'preCandidate') offers.push({ type: 'rpc.requestVoteResult', from: LEARNER, term: t + 1, voteGranted: true, preVote: true });
    return offers;
  }
  offers.push(
    changeConfig({ type: 'addLearner', id: NEWCOMER }),
    changeConfig({ type: 'promote', id: LEARNER }),
    changeConfig({ type: 'removeServer', id: 'n3' }),
    changeConfig({ type: 'removeServer', id: c.id }),
    changeConfig({ type: 'removeServer', id: STRANGER }),
    { type: 'client.transferLeadership', to: 'n2', requestId: 't' },
    { type: 'client.transferLeadership', requestId: 't' },
    { type: 'client.transferLeadership', to: STRANGER, requestId: 't' },
    // A client that tries to change the membership behind the rules, by proposing a configuration entry.
    { type: 'client.propose', commands: [configCommand({ voters: [c.id], learners: [] })], requestId: 'p' },
  );
  if (c.transfer !== undefined) offers.push({ type: 'timeout.transfer' });
  const last = c.log.lastIndex;
  for (const peer of ['n3', LEARNER]) {
    if (c.replicas.includes(peer)) offers.push(appendEntriesResult(peer, t, { success: true, matchIndex: last, seq: c.readSeq }));
  }
  return offers;
}

/** Every event offered to a state. The graph tools keep only the types the state handles. */
export function modelEvents(snapshot: RaftSnapshot, scope: ModelScope): RaftEvent[] {
  const c = snapshot.context;
  const role = roleOf(snapshot);
  return [
    { type: 'timeout.election' },
    { type: 'timeout.heartbeat' },
    { type: 'timeout.leaderContact' },
    ...requestVotes(c, role, scope),
    ...voteResults(c, role, scope),
    ...appendEntriesRequests(c, role, scope),
    ...appendEntriesResults(c, role, scope),
    ...(scope.snapshots === true ? snapshotEvents(c, role) : []),
    ...(scope.membership === true ? membershipEvents(c, role) : []),
    { type: 'client.propose', commands: [COMMAND], requestId: 'p' },
    { type: 'client.read', requestIds: ['r'] },
  ];
}

/** One line per event, for failure messages and bug reports. */
export function describeEvent(event: RaftEvent): string {
  switch (event.type) {
    case 'rpc.requestVote':
      return `${event.preVote === true ? 'pre-vote ' : ''}requestVote from ${event.candidateId} term ${event.term} last ${event.lastLogIndex}@${event.lastLogTerm}`;
    case 'rpc.requestVoteResult':
      return `${event.preVote === true ? 'pre-vote ' : ''}requestVoteResult from ${event.from} term ${event.term} ${event.voteGranted ? 'granted' : 'denied'}`;
    case 'rpc.appendEntries':
      return `appendEntries from ${event.leaderId} term ${event.term} prev ${event.prevLogIndex}@${event.prevLogTerm} entries [${event.entries
        .map((e) => `${e.index}@${e.term}${isConfigCommand(e.command) ? ` config {voters ${e.command.voters.join(',')}; learners ${e.command.learners.join(',')}}` : ''}`)
        .join(' ')}] leaderCommit ${event.leaderCommit}`;
    case 'rpc.appendEntriesResult':
      return `appendEntriesResult from ${event.from} term ${event.term} ${
        event.success ? `success match ${event.matchIndex}` : `reject ${event.rejectedIndex} hint ${event.conflictIndex}@${event.conflictTerm}`
      } seq ${event.seq}`;
    case 'rpc.installSnapshot':
      return `installSnapshot from ${event.leaderId} term ${event.term} up to ${event.lastIncludedIndex}@${event.lastIncludedTerm} offset ${event.offset} ${event.data.length} chars${event.done ? ' done' : ''}`;
    case 'rpc.installSnapshotResult':
      return `installSnapshotResult from ${event.from} term ${event.term} (request ${event.requestTerm}) ${event.lastIncludedIndex} ${event.installed ? 'installed' : `offset ${event.offset}`}`;
    case 'snapshot.taken':
      return `snapshot.taken up to ${event.index}`;
    case 'client.propose':
      return `client.propose ${event.commands.length} command(s)`;
    case 'client.read':
      return `client.read ${event.requestIds.join(',')}`;
    case 'client.changeConfig':
      return `client.changeConfig ${event.change.type} ${event.change.id}`;
    case 'client.transferLeadership':
      return `client.transferLeadership to ${event.to ?? '(the most up-to-date voter)'}`;
    case 'rpc.timeoutNow':
      return `timeoutNow from ${event.leaderId} term ${event.term}`;
    default:
      return event.type;
  }
}
