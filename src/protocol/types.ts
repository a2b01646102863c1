/**
 * The shapes ConsensusProtocol takes and returns: its options, the clock it drives the actor
 * with, and the replies of its RPC receivers and of replicateLog. Types only; re-exported by
 * src/protocol.ts.
 */
import type { AppendEntries, LogEntry, NodeId, Term } from '../core/types.js';
import type { Envelope, LocalNetwork } from '../local-network.js';
import type { Clock } from '../runtime/clock.js';

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

/** The answer to RequestVote (Figure 2), naming the voter so that the candidate can count it. */
export interface VoteReply {
  /** The voter: the node that answered. */
  readonly from: NodeId;
  readonly term: Term;
  readonly voteGranted: boolean;
  /** Whom the vote is for: a candidate counts only replies that name it (a vote for another never elects it). */
  readonly candidateId: NodeId;
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
