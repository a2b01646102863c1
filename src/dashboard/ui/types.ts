/**
 * What the dashboard server streams over `GET /api/events` (Server-Sent Events, JSON data).
 * The page renders these and nothing else: it never guesses a control's effect.
 */

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface ClusterEvent {
  /** Every node the server follows: the members, and nodes that left the configuration or wait to join it. */
  nodes: string[];
  /**
   * `addNode`: the server can start a new node process (the demo); `coord`: it answers GET
   * /api/coord; `agents`: it runs agents (GET /api/agents, their kill and restart). Absent from
   * older servers.
   */
  controls: { kill: boolean; restart: boolean; workload: boolean; addNode?: boolean; coord?: boolean; agents?: boolean };
  workload: 'running' | 'paused' | 'off';
  /**
   * The configuration in force on the most advanced node that answered GET /admin/members (a
   * configuration takes effect when appended, so it may not be committed yet). Absent until a
   * node answered (or from nodes without the route).
   */
  members?: Members;
  /** Configuration entries of the log the server has seen, oldest first. */
  configs?: ConfigEntry[];
  /** Nodes that were members of a configuration the server saw and are not members any more. */
  removed?: string[];
}

export interface Configuration {
  voters: string[];
  learners: string[];
}

export interface Members extends Configuration {
  /** The index of the entry that set it (0: the bootstrap list, not written to the log yet). */
  index: number;
  committed: boolean;
}

/** A configuration entry: where it is in the log and what it says. */
export interface ConfigEntry extends Configuration {
  index: number;
  /** Its term, once known: an entry at the same index with another term is not this one. */
  term?: number;
}

/** Where a node stands in the configuration (`unknown`: no configuration is known yet). */
export type Membership = 'voter' | 'learner' | 'removed' | 'outsider' | 'unknown';

export interface NodeUp {
  id: string;
  up: true;
  role: Role;
  term: number;
  votedFor: string | null;
  leaderId: string | null;
  commitIndex: number;
  lastApplied: number;
  lastLogIndex: number;
  /**
   * The latest snapshot's last included index and term (0 without one): entries up to
   * snapshotIndex are compacted into it, and the log holds snapshotIndex + 1 on. Absent from
   * nodes older than snapshots.
   */
  snapshotIndex?: number;
  snapshotTerm?: number;
  /** The snapshot's size in bytes, once the node's /status told the server (absent until then). */
  snapshotBytes?: number;
  /** Terms of the entries start..lastLogIndex (at most the last 64, never before snapshotIndex + 1). */
  log: { start: number; terms: number[] };
  /** Peers this node refuses traffic with. */
  isolated: string[];
  time: number;
}

export interface NodeDown {
  id: string;
  up: false;
  /**
   * Present when the node is not down but answered 401: it refuses the dashboard's credential.
   * Says what to do about it ("start the dashboard with --client-token …").
   */
  refused?: string;
}

export type NodeEvent = NodeUp | NodeDown;

export type RpcType = 'rpc.requestVote' | 'rpc.requestVoteResult' | 'rpc.appendEntries' | 'rpc.appendEntriesResult' | 'rpc.installSnapshot' | 'rpc.installSnapshotResult';

/**
 * An InstallSnapshot chunk: the snapshot (last included index and term), where the chunk starts
 * in it and how long it is (characters), whether it is the last, and the snapshot's whole length
 * when the leader still holds it. A result: the snapshot, and how much of it the follower holds.
 */
export interface SnapshotPart {
  index: number;
  term?: number;
  offset: number;
  bytes?: number;
  done?: boolean;
  total?: number;
}

export interface RpcEvent {
  from: string;
  to: string;
  type: RpcType;
  term: number;
  entries?: number;
  success?: boolean;
  voteGranted?: boolean;
  preVote?: boolean;
  /** InstallSnapshot and its result (`success`: installed). */
  snapshot?: SnapshotPart;
  time: number;
}

export interface LeaderEvent {
  term: number;
  leaderId: string | null;
  time: number;
}

export interface LogEvent {
  level: 'info' | 'warn' | 'error';
  text: string;
  time: number;
}

// ---- GET /api/coord and GET /api/agents (polled; src/dashboard/server.ts)

export interface LeaseView {
  name: string;
  holder: string;
  token: number;
  /** On the cluster's clock (the leader's wall clock), ms. */
  expiresAt: number;
  ttlMs: number;
}

export type TaskState = 'queued' | 'claimed' | 'done' | 'dead';

export interface TaskView {
  id: string;
  queue: string;
  task: unknown;
  state: TaskState;
  attempts: number;
  maxAttempts: number;
  postedAt: number;
  claim?: { worker: string; token: number; expiresAt: number };
  result?: unknown;
  completedBy?: { worker: string; token: number };
  reason?: string;
}

export interface QueueView {
  queue: string;
  counts: Record<TaskState, number>;
  /** Those not done, and the last few done. */
  tasks: TaskView[];
}

export interface CoordView {
  leases: LeaseView[];
  queues: QueueView[];
  /** The dashboard server's clock when it answered: time left = expiresAt − now. */
  now: number;
}

export interface AgentView {
  name: string;
  /** idle, claiming, working, completing, failing, resting; killed, paused or stopped without an actor. */
  state: string;
  /** The agent machine's whole state value, one dotted path per region. */
  value: string;
  alive: boolean;
  claim?: { id: string; token: number; attempt: number };
  lease?: { name: string; state: string; token?: number };
  completed: number;
  failed: number;
  lost: number;
}
