/**
 * The vocabulary of Raft, named as in the paper (Figure 2). Plain aliases rather than
 * brands: they cross the wire as JSON numbers and strings, and the schema at the edge
 * (src/core/validate.ts) is what makes a number a valid term or index.
 */
export type NodeId = string;
/** A term number. 0 is the term before any election (and of the empty log's sentinel). */
export type Term = number;
/** A 1-based position in the log. 0 is the empty log's sentinel. */
export type LogIndex = number;

export interface LogEntry<C = unknown> {
  readonly term: Term;
  readonly index: LogIndex;
  readonly command: C;
}

/** What must survive a crash (Figure 2, "Persistent state on all servers"). */
export interface HardState {
  readonly currentTerm: Term;
  readonly votedFor: NodeId | null;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** The command a new leader appends so it can commit an entry of its own term (§5.4.2, §8). */
export const NOOP = { type: 'raft.noop' } as const;
export type Noop = typeof NOOP;
export function isNoop(command: unknown): command is Noop {
  return typeof command === 'object' && command !== null && (command as { type?: unknown }).type === NOOP.type;
}

// ---- RPC messages. The wire message *is* the machine event: the runtime sends it to the actor as is.

export interface RequestVote {
  readonly type: 'rpc.requestVote';
  readonly from: NodeId;
  readonly term: Term;
  readonly candidateId: NodeId;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /**
   * Pre-vote (Raft thesis §9.6): "would you vote for me in `term`?" — asked before a real
   * election, changes nothing at the receiver. `term` is the term the candidate would campaign in.
   */
  readonly preVote?: boolean;
}

export interface RequestVoteResult {
  readonly type: 'rpc.requestVoteResult';
  readonly from: NodeId;
  /** For a granted pre-vote: the term asked about; otherwise the voter's current term. */
  readonly term: Term;
  readonly voteGranted: boolean;
  readonly preVote?: boolean;
}

export interface AppendEntries<C = unknown> {
  readonly type: 'rpc.appendEntries';
  readonly from: NodeId;
  readonly term: Term;
  readonly leaderId: NodeId;
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly LogEntry<C>[];
  readonly leaderCommit: LogIndex;
  /** Leadership-confirmation round this message belongs to (ReadIndex, thesis §6.4); echoed in the reply. */
  readonly seq: number;
}

export interface AppendEntriesResult {
  readonly type: 'rpc.appendEntriesResult';
  readonly from: NodeId;
  /** The follower's current term (above the leader's: the leader is stale and steps down). */
  readonly term: Term;
  /**
   * The term of the AppendEntries this answers. A follower refusing an earlier term's request
   * answers with its own, later term, which may be the term its old leader now leads again: only
   * `requestTerm` tells the leader that the answer is about another leadership, whose rounds,
   * indexes and probes mean nothing in this one.
   */
  readonly requestTerm: Term;
  readonly success: boolean;
  /** On success: the index up to which the follower's log now matches the leader's. */
  readonly matchIndex: LogIndex;
  /** The prevLogIndex of the request this answers, so the leader can ignore stale rejections. */
  readonly rejectedIndex: LogIndex;
  /** On rejection: the term of the follower's entry at prevLogIndex (0 if it has none) ... */
  readonly conflictTerm: Term;
  /** ... and the first index the follower holds for that term (or its lastIndex + 1). */
  readonly conflictIndex: LogIndex;
  readonly seq: number;
}

/**
 * InstallSnapshot (§7, Figure 13), one chunk of it: the leader's snapshot covers every entry up
 * to `lastIncludedIndex` (of term `lastIncludedTerm`); `data` is the part of its serialized form
 * that starts at character `offset`; `done` marks the last chunk.
 */
export interface InstallSnapshot {
  readonly type: 'rpc.installSnapshot';
  readonly from: NodeId;
  readonly term: Term;
  readonly leaderId: NodeId;
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  readonly offset: number;
  readonly data: string;
  readonly done: boolean;
  /** Leadership-confirmation round (ReadIndex), echoed in the reply like AppendEntries'. */
  readonly seq: number;
}

export interface InstallSnapshotResult {
  readonly type: 'rpc.installSnapshotResult';
  readonly from: NodeId;
  readonly term: Term;
  /** The term of the InstallSnapshot this answers (see AppendEntriesResult.requestTerm). */
  readonly requestTerm: Term;
  /** The snapshot this answers about. */
  readonly lastIncludedIndex: LogIndex;
  /**
   * How much of it the follower holds: the offset to send next (a transfer interrupted by a
   * lost chunk or a restart resumes there), or the whole length once `installed`.
   */
  readonly offset: number;
  /** The follower now holds every entry up to lastIncludedIndex (installed, or already had them). */
  readonly installed: boolean;
  readonly seq: number;
}

/**
 * Leadership transfer (thesis §3.10): the leader, having brought `to` up to date, tells it to start
 * an election at once, without waiting for its timer and without a pre-vote.
 */
export interface TimeoutNow {
  readonly type: 'rpc.timeoutNow';
  readonly from: NodeId;
  readonly term: Term;
  readonly leaderId: NodeId;
}

export type RpcMessage<C = unknown> = RequestVote | RequestVoteResult | AppendEntries<C> | AppendEntriesResult | InstallSnapshot | InstallSnapshotResult | TimeoutNow;
export type RpcRequest<C = unknown> = RequestVote | AppendEntries<C> | InstallSnapshot | TimeoutNow;
